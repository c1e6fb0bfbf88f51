// The web client keeps a conversation across a reload and a dropped connection, in headless Chromium.
// Usage: node resume.mjs PAGE_URL
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const [pageUrl] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const errors = [];
const texts = (page) => page.$$eval(".msg", (all) => all.map((m) => m.lastChild.textContent));
const hasNotice = (page, text) =>
  page.waitForFunction((t) => [...document.querySelectorAll(".notice")].some((n) => n.textContent.includes(t)), text, { timeout: 20000 });
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 700 } });
  const open = async (name) => {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    // Lets the test hold the page's reconnects: while __block is set, each goes nowhere and fails.
    await page.addInitScript(() => {
      const Real = window.WebSocket;
      window.WebSocket = class extends Real {
        constructor(url, protocols) { super(window.__block ? "ws://127.0.0.1:9/" : url, protocols); }
      };
    });
    await page.goto(pageUrl);
    await page.fill("#username", name);
    await page.click("#connect");
    await page.waitForSelector("#status.online", { timeout: 10000 });
    return page;
  };
  const say = async (page, text) => {
    await page.fill("#text", text);
    await page.press("#text", "Enter");
    await page.waitForFunction((t) => [...document.querySelectorAll(".msg.mine")].some((m) => m.textContent.includes(t)), text);
  };
  const ada = await open("ada");
  const bob = await open("bob");
  await say(ada, "before the drop");
  await bob.waitForFunction(() => document.querySelectorAll(".msg").length === 1);

  // A page opened (or reloaded) now shows what was said, marked as history.
  const cy = await open("cy");
  await cy.waitForSelector(".msg.history");
  assert.deepEqual(await texts(cy), ["before the drop"]);

  // Bob's connection drops, and stays down while ada says three things.
  await bob.evaluate(() => { window.__block = true; socket.close(4000, "the test drops it"); });
  await bob.waitForFunction(() => !document.querySelector("#status.online"));
  for (const n of [1, 2, 3]) await say(ada, "missed " + n);
  // The typing notice reaches the others.
  await ada.fill("#text", "typing…");
  await cy.waitForFunction(() => document.querySelector("#typing").textContent.includes("ada is typing"));
  await ada.fill("#text", "");

  // The network comes back (the browser says so): the page reconnects by
  // itself and catches up, each message once, in order.
  await bob.evaluate(() => { window.__block = false; window.dispatchEvent(new Event("online")); });
  await hasNotice(bob, "caught up on 3 messages");
  await bob.waitForSelector("#status.online");
  assert.deepEqual(await texts(bob), ["before the drop", "missed 1", "missed 2", "missed 3"]);
  await say(ada, "live again");
  await bob.waitForFunction(() => [...document.querySelectorAll(".msg")].some((m) => m.textContent.includes("live again")));
  assert.deepEqual(await texts(bob), ["before the drop", "missed 1", "missed 2", "missed 3", "live again"]);
  assert.deepEqual(errors, [], "no page errors");
  console.log("browser resume ok");
} finally {
  await browser.close();
}
