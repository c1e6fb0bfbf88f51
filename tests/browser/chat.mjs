// Two pages of the wschat web client chat in headless Chromium; hostile text stays text.
// Usage: node chat.mjs PAGE_URL SCREENSHOT_PATH
// Also writes SCREENSHOT_PATH.blank.png, an empty page of the same size, to compare against.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const [pageUrl, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const dialogs = [];
const errors = [];
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 700 } });
  const open = async (name) => {
    const page = await context.newPage();
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(pageUrl);
    await page.fill("#username", name);
    await page.click("#connect");
    await page.waitForSelector("#status.online", { timeout: 10000 });
    return page;
  };
  const ada = await open("ada");
  const bob = await open("bob");
  await ada.waitForFunction(() => [...document.querySelectorAll("#who li")].some((li) => li.textContent === "bob"));

  await ada.fill("#text", "hello bob");
  await ada.press("#text", "Enter");
  await bob.waitForFunction(() => [...document.querySelectorAll(".msg")].some((m) => m.textContent.includes("hello bob")));
  await ada.waitForSelector(".msg.mine", { timeout: 10000 });
  assert.equal(await ada.locator(".msg.mine").count(), 1, "ada's own message is marked as hers");

  const hostile = "<img src=x onerror=alert(1)>";
  await bob.fill("#text", hostile);
  await bob.press("#text", "Enter");
  await ada.waitForFunction((t) => [...document.querySelectorAll(".msg")].some((m) => m.textContent.includes(t)), hostile);
  assert.equal(await ada.locator("#log img").count(), 0, "no element was created from chat text");

  await bob.selectOption("#to", "ada");
  await bob.fill("#text", "just for you");
  await bob.press("#text", "Enter");
  await ada.waitForSelector(".msg.direct");

  await ada.screenshot({ path: screenshot });
  const blank = await context.newPage();
  await blank.screenshot({ path: `${screenshot}.blank.png` });
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(dialogs, [], "no script ran from chat text");
  assert.deepEqual(errors, [], "no page errors");
  console.log("browser chat ok");
} finally {
  await browser.close();
}
