// The web client in token mode: the token comes from the URL fragment, the
// name from the token, and an ops broadcast is shown as one.
// Usage: node token.mjs PAGE_URL TOKEN   (prints "online", then waits for the broadcast)
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const [pageUrl, token] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const logged = [];
  page.on("console", (m) => logged.push(m.text()));
  page.on("pageerror", (e) => logged.push(String(e)));
  await page.goto(`${pageUrl}#token=${token}`);
  assert.equal(await page.evaluate(() => location.hash), "", "the token leaves the address bar");
  assert.equal(await page.isVisible("#username"), false, "no name field: the token names us");
  await page.click("#connect");
  await page.waitForSelector("#status.online", { timeout: 10000 });
  assert.match(await page.textContent("#status"), /online as ada/);
  console.log("online");

  await page.fill("#text", "hello from ada");
  await page.press("#text", "Enter");
  await page.waitForSelector(".msg.mine", { timeout: 10000 });
  await page.waitForSelector(".msg.ops", { timeout: 20000 });
  assert.match(await page.textContent(".msg.ops"), /operator announcement/);
  assert.ok(!logged.some((line) => line.includes(token)), "the token never reaches the page's logs");
  console.log("token chat ok");
} finally {
  await browser.close();
}
