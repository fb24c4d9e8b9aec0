import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import { bareEnv, ROOT } from '../support/process.js'
import { findChromium } from '../../scripts/browser.mjs'

// `npm run demo` end to end, in headless Chromium: the page as a newcomer uses it, the real bridge
// behind it. Every check waits on what the page shows; nothing here talks to the bridge directly.

// `npm test` finds or installs it first and passes it as CHROMIUM_PATH (scripts/browser.mjs).
const BROWSER = findChromium()
const ARTIFACTS = join(ROOT, 'test/artifacts')
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const WAIT = { timeout: 15_000 }

interface DemoProcess {
  url: string
  output(): string
  stop(): Promise<number | null>
}

/** Starts the demo as `npm run demo` does (tsx sandbox/demo/main.ts), on any free port. */
function startDemo(): Promise<DemoProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'sandbox/demo/main.ts', '--port', '0', '--status-step', '150', '--log-level', 'info'],
    {
      cwd: ROOT,
      env: bareEnv({}),
    },
  )
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start:\n${out}`)), 30_000)
    child.stdout.on('data', () => {
      const m = /Demo ready: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      resolve({
        url: m[1]!,
        output: () => out,
        stop: () => {
          child.kill('SIGTERM')
          return exited
        },
      })
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the demo exited with ${code}:\n${out}`))
    })
  })
}

/** Problems the page itself reports: uncaught errors and console errors. */
function watchErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text())
  })
  return errors
}

/** Whether a thread is scrolled to its newest message (within the 40 px the page allows). */
const atNewest = (page: Page, selector: string) =>
  page.evaluate(`(() => { const l = document.querySelector('${selector}'); return l.scrollHeight - l.scrollTop - l.clientHeight < 40 })()`)

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true })

if (BROWSER.problem !== undefined) {
  t.fail(BROWSER.problem)
} else {
  mkdirSync(ARTIFACTS, { recursive: true })
  const demo = await startDemo()
  const browser: Browser = await chromium.launch({ executablePath: BROWSER.path, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } })
  const errors = watchErrors(page)
  const phone = page.locator('#phone')
  const inbox = page.locator('#inbox')
  const sidebar = page.locator('#canvas') // the sidebar app's own view

  await t.test('a customer texts, the team answers from the inbox and the sidebar, the customer opts out', async (t) => {
    await page.goto(demo.url)
    await page.locator('#connection', { hasText: 'Live' }).waitFor(WAIT)
    await shot(page, 'laptop-1-start.png')

    // The customer texts, with an emoji, then a picture.
    await phone.getByLabel('Customer number').selectOption('+14155550123')
    await phone.getByLabel('Text message').fill('Hi! Where is my parcel? 📦')
    await phone.getByRole('button', { name: 'Send text' }).click()
    await phone.locator('.bubble.mine', { hasText: 'Hi! Where is my parcel? 📦' }).waitFor(WAIT)
    await phone.getByRole('button', { name: 'Attach a picture' }).click()
    await phone.getByLabel('Text message').fill('This is my doorstep')
    await phone.getByRole('button', { name: 'Send text' }).click()
    await phone.locator('.bubble.mine', { hasText: 'This is my doorstep' }).locator('img').waitFor(WAIT)

    // The contact and the conversation appear in the inbox, tagged, with the text as sent.
    const item = inbox.getByRole('button', { name: /\+1 415 555 0123/ })
    await item.waitFor(WAIT)
    await item.click()
    t.equal(await item.getAttribute('aria-current'), 'true', 'the conversation is selected')
    await inbox.locator('.part.customer', { hasText: 'Hi! Where is my parcel? 📦' }).waitFor(WAIT)
    await inbox.locator('#conversation-tags .tag', { hasText: /^sms$/ }).waitFor(WAIT)
    t.match(await inbox.locator('#conversation-meta').textContent(), /Open · Lead/, 'a lead, in an open conversation')
    // The picture reached Intercom as the bridge's signed media link, which fetches it from Twilio.
    const picture = inbox.locator('.part.customer img').first()
    await picture.waitFor(WAIT)
    await page.waitForFunction(
      "(() => { const img = document.querySelector('#conversation-thread .part.customer img'); return Boolean(img?.complete && img.naturalWidth > 0) })()",
      undefined,
      WAIT,
    )
    t.match(
      await picture.getAttribute('src'),
      /^http:\/\/127\.0\.0\.1:\d+\/media\/[\w.-]+\/picture-1\.png$/,
      'Intercom got a bridge media link named as a file, not a Twilio URL',
    )
    t.same(
      await picture.evaluate((img) => [
        (img as unknown as { naturalWidth: number }).naturalWidth,
        (img as unknown as { naturalHeight: number }).naturalHeight,
      ]),
      [240, 160],
      'the picture the customer sent',
    )

    // The sidebar, drawn from the bridge's canvas.
    await sidebar.locator('.c-text.header', { hasText: '+1 415 555 0123' }).waitFor(WAIT)
    await sidebar.getByText('Can be texted.').waitFor(WAIT)
    await sidebar
      .locator('.c-item', { hasText: '← Hi! Where is my parcel? 📦' })
      .locator('.subtitle', { hasText: /^Received ·/ })
      .waitFor(WAIT)
    await shot(page, 'laptop-2-inbound.png')

    // A teammate replies: the phone receives it, and the sidebar shows it delivered.
    await inbox.getByLabel('Reply to the customer').fill('Good news: it ships today!')
    await inbox.getByRole('button', { name: 'Send reply' }).click()
    await inbox.locator('.part.teammate', { hasText: 'Good news: it ships today!' }).waitFor(WAIT)
    await phone.locator('.bubble.theirs', { hasText: 'Good news: it ships today!' }).waitFor(WAIT)
    await sidebar
      .locator('.c-item', { hasText: '→ Good news: it ships today!' })
      .locator('.subtitle', { hasText: /^Delivered ·/ })
      .waitFor(WAIT)
    await inbox.locator('summary', { hasText: 'Contact details' }).click()
    await inbox.locator('#contact-details dd', { hasText: /^delivered$/ }).waitFor(WAIT)
    await shot(page, 'laptop-3-reply-delivered.png')

    // One format and zone for times in every pane: the sidebar's.
    const stamps = {
      phone: await phone.locator('.bubble .meta').first().textContent(),
      inboxList: await inbox.locator('.conversation-item .meta').first().textContent(),
      inboxPart: await inbox.locator('.part .author').first().textContent(),
      sidebar: await sidebar.locator('.c-item .subtitle').first().textContent(),
      webhooks: await page.locator('#traffic td').first().textContent(),
    }
    for (const [pane, text] of Object.entries(stamps))
      t.match(text, /(^| )\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC( |$)/, `${pane} writes times as the sidebar does`)
    await page.locator('#traffic-details summary').click()
    t.ok(await page.locator('#traffic-scroll-hint').isHidden(), 'no scrolling hint where the table fits')
    await page.locator('#traffic-details summary').click()

    // A teammate sends a picture: it goes out as MMS, and the phone shows it.
    await inbox.getByLabel('Attach a picture').check()
    await inbox.getByRole('button', { name: 'Send reply' }).click()
    const received = phone.locator('.bubble.theirs img[alt="Picture 1 received"]')
    await received.waitFor(WAIT)
    // Loaded, not a broken image: the browser fetched it from the attachment's URL.
    await page.waitForFunction(
      (img) => {
        const image = img as unknown as { complete: boolean; naturalWidth: number }
        return image.complete && image.naturalWidth > 0
      },
      await received.elementHandle(),
      WAIT,
    )
    t.notOk(await inbox.getByLabel('Attach a picture').isChecked(), 'the box is cleared once sent')
    // The inbox shows it too, inline in the teammate's part as Intercom does.
    const inline = inbox.locator('.part.teammate img.picture').last()
    await inline.waitFor(WAIT)
    await page.waitForFunction(
      (img) => {
        const image = img as unknown as { complete: boolean; naturalWidth: number }
        return image.complete && image.naturalWidth > 0
      },
      await inline.elementHandle(),
      WAIT,
    )
    // Its statuses settle before the next step: the sidebar is drawn again at each one.
    await sidebar
      .locator('.c-item', { hasText: '→ (picture)' })
      .locator('.subtitle', { hasText: /^Delivered ·/ })
      .waitFor(WAIT)

    // The welcome text, sent from the sidebar.
    await sidebar.getByRole('button', { name: 'Send welcome SMS' }).click()
    await phone.locator('.bubble.theirs', { hasText: 'Hi there, welcome to Acme! Reply STOP to opt out.' }).waitFor(WAIT)
    await sidebar.getByText(/^Welcome SMS sent /).waitFor(WAIT)
    t.equal(await sidebar.getByRole('button', { name: 'Send welcome SMS' }).count(), 0, 'the welcome can be sent only once')
    await inbox.locator('.part.note', { hasText: 'Welcome text sent by SMS' }).waitFor(WAIT)

    // The customer texts STOP: Twilio confirms, and the sidebar says they opted out.
    await phone.getByLabel('Text message').fill('STOP')
    await phone.getByRole('button', { name: 'Send text' }).click()
    await phone.locator('.bubble.theirs', { hasText: 'You have successfully been unsubscribed' }).waitFor(WAIT)
    await sidebar.locator('.c-text.error', { hasText: /^Opted out .* by texting STOP to / }).waitFor(WAIT)
    t.equal(await sidebar.getByRole('button', { name: 'Send SMS' }).count(), 0, 'no compose box for an opted-out customer')
    await inbox.locator('#contact-details dd', { hasText: /^true$/ }).waitFor(WAIT)

    // A reply after STOP is not texted; the team is told why.
    await inbox.getByLabel('Reply to the customer').fill('Sorry to see you go')
    await inbox.getByRole('button', { name: 'Send reply' }).click()
    await inbox.locator('.part.note', { hasText: 'Not sent as SMS' }).waitFor(WAIT)
    t.equal(await phone.locator('.bubble', { hasText: 'Sorry to see you go' }).count(), 0, 'the phone never gets it')
    // Pictures loaded after the threads were drawn; both still show their newest message.
    t.ok(
      await page.evaluate(
        "document.querySelector('#conversation-thread').scrollHeight > document.querySelector('#conversation-thread').clientHeight",
      ),
      'the inbox thread is long enough to scroll',
    )
    t.ok(await atNewest(page, '#conversation-thread'), 'the inbox thread follows the newest message, pictures and all')
    t.ok(await atNewest(page, '#phone-thread'), 'so does the phone')
    await shot(page, 'laptop-4-opted-out.png')
    t.same(errors, [], 'no errors on the page')
  })

  await t.test('a text that never reaches the phone; Send SMS, Details and closing from the page', async (t) => {
    await phone.getByLabel('Customer number').selectOption('+12025550143')
    await phone.getByLabel('Texts sent to this phone').selectOption('unreachable')
    await phone.getByLabel('Text message').fill('Can you call me?')
    await phone.getByRole('button', { name: 'Send text' }).click()
    const item = inbox.getByRole('button', { name: /\+1 202 555 0143/ })
    await item.click()
    await inbox.locator('.part.customer', { hasText: 'Can you call me?' }).waitFor(WAIT)
    await sidebar.locator('.c-text.header', { hasText: '+1 202 555 0143' }).waitFor(WAIT)

    // Sent from the sidebar's compose box: Twilio accepts it, the carrier cannot deliver it.
    await sidebar.getByLabel('Text message').fill('We tried to call you')
    await sidebar.getByRole('button', { name: 'Send SMS' }).click()
    await inbox.locator('.part.note', { hasText: 'Sent by SMS from the sidebar by Bridge Admin' }).waitFor(WAIT)
    await sidebar
      .locator('.c-item', { hasText: '→ We tried to call you' })
      .locator('.subtitle', { hasText: 'Not delivered: The phone is unreachable (switched off or out of coverage).' })
      .waitFor(WAIT)
    await inbox.locator('.part.note', { hasText: 'The text did not reach the customer (Twilio error 30003)' }).waitFor(WAIT)
    t.equal(await phone.locator('.bubble', { hasText: 'We tried to call you' }).count(), 0, 'the phone never gets it')
    // The sidebar says what that failure means for the next text, not "Can be texted."
    await sidebar
      .locator('.c-text.error', { hasText: 'The last text did not arrive: the phone was switched off or out of coverage.' })
      .waitFor(WAIT)
    t.equal(await sidebar.getByText('Can be texted.').count(), 0, 'not "Can be texted." above a text that failed')

    await sidebar.getByRole('button', { name: 'Details' }).click()
    await sidebar.locator('.c-table dd', { hasText: /^Not delivered \(error 30003\) · SM[0-9a-f]{32}$/ }).waitFor(WAIT)
    await shot(page, 'laptop-5-undelivered-details.png')
    await sidebar.getByRole('button', { name: 'Back' }).click()
    await sidebar.getByRole('button', { name: 'Send SMS' }).waitFor(WAIT)

    // A macro the team keeps in Intercom, rendered for this customer; its counter on the Preview step.
    await sidebar.getByRole('button', { name: 'Use a macro' }).click()
    await sidebar.getByLabel('Macro', { exact: true }).selectOption({ label: 'Delivery window (SMS)' })
    await sidebar.getByRole('button', { name: 'Insert' }).click()
    await sidebar.getByRole('button', { name: 'Preview' }).waitFor(WAIT)
    t.match(await sidebar.getByLabel('Text message').inputValue(), /^Hi there, your delivery comes between 9:00 and 12:00 tomorrow/)
    await sidebar.getByRole('button', { name: 'Preview' }).click()
    await sidebar.getByRole('button', { name: 'Use plain characters' }).waitFor(WAIT)
    t.match(await sidebar.locator('.c-table').first().textContent(), /UCS-2/, 'the long dash forces UCS-2, and the preview says so')
    await shot(page, 'laptop-6-macro-preview.png')
    await sidebar.getByRole('button', { name: 'Edit' }).click()
    await sidebar.getByRole('button', { name: 'Send later' }).waitFor(WAIT)
    t.match(await sidebar.getByLabel('Text message').inputValue(), /your delivery comes/, 'Edit keeps the words')

    // Sent later, tomorrow morning on the customer's clock: listed in the sidebar.
    await sidebar.getByRole('button', { name: 'Send later' }).click()
    await sidebar.getByRole('button', { name: /^Tomorrow .* their time$/ }).click()
    await sidebar.getByText(/^Scheduled for /).waitFor(WAIT)
    await sidebar.getByText('Scheduled texts').waitFor(WAIT)

    // A Workflow's "Send SMS" step: the connector `setup` made, called as Intercom calls it.
    await inbox.getByRole('button', { name: 'Run a Workflow: Send SMS' }).click()
    await inbox.locator('#workflow-result', { hasText: '{"result":"sent"}' }).waitFor(WAIT)
    await inbox.locator('.part', { hasText: 'your order A-1042 has shipped' }).first().waitFor(WAIT)

    await inbox.getByRole('button', { name: 'Close conversation' }).click()
    await inbox.locator('.event', { hasText: 'Closed by Bridge Admin' }).waitFor(WAIT)
    t.match(await inbox.locator('#conversation-meta').textContent(), /Closed/, 'the conversation is closed')
    t.same(errors, [], 'no errors on the page')
  })

  await t.test('another number: checked when chosen; its first text with a picture opens its conversation, in one part', async (t) => {
    const customer = phone.getByLabel('Customer number')
    const other = phone.getByLabel('Other number')
    const use = phone.getByRole('button', { name: 'Use' })
    const before = await inbox.locator('#conversation-title').textContent()
    await customer.selectOption('other')
    await other.fill('555 01')
    await use.click()
    await phone.locator('#phone-error', { hasText: '"555 01" is not a phone number: with its country code' }).waitFor(WAIT)
    t.equal(await other.getAttribute('aria-invalid'), 'true', 'the box says it is wrong, before anything is sent')
    await phone.getByLabel('Text message').fill('Hello?')
    await phone.getByRole('button', { name: 'Send text' }).click()
    await phone.locator('#phone-error', { hasText: 'Choose the number first' }).waitFor(WAIT)

    await other.fill('+44 7400 123456')
    await use.click()
    await customer.locator('option', { hasText: '+44 7400 123456' }).waitFor({ state: 'attached', ...WAIT })
    t.equal(await customer.inputValue(), '+447400123456', 'the typed number is the phone now')
    t.equal(await inbox.locator('#conversation-title').textContent(), before, 'no conversation of theirs yet: the inbox stays')

    // A file that is not a picture is refused when chosen: no broken preview, nothing sent.
    await phone
      .locator('#phone-file')
      .setInputFiles({ name: 'invoice.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n') })
    await phone
      .locator('#phone-error', { hasText: '"invoice.pdf" is not a picture: the phone sends PNG, JPEG, GIF or WebP.' })
      .waitFor(WAIT)
    t.ok(await phone.locator('#attachment').isHidden(), 'no preview of it')

    // Its first text, with a picture: the inbox opens the new conversation by itself.
    await phone.getByRole('button', { name: 'Attach a picture' }).click()
    await phone.getByLabel('Text message').fill('Hello from London')
    await phone.getByRole('button', { name: 'Send text' }).click()
    await inbox.locator('.conversation-item[aria-current="true"]', { hasText: '+44 7400 123456' }).waitFor(WAIT)
    await inbox.locator('#conversation-title', { hasText: '+44 7400 123456' }).waitFor(WAIT)
    const first = inbox.locator('#conversation-thread .part.customer')
    await first.locator('img').waitFor(WAIT)
    t.equal(await first.count(), 1, 'the text and the picture are one part')
    t.match(await first.textContent(), /Hello from London/)
    t.notMatch(await inbox.locator('#conversation-thread').textContent(), /sent an attachment/)
    t.match(
      await first.locator('img').getAttribute('src'),
      /\/media\/[\w.-]+\/picture-1\.png$/,
      'the media link ends in a file name with its extension',
    )
    t.equal(await first.locator('img').getAttribute('alt'), 'Attachment picture-1.png', 'Intercom named the attachment from the link')
    // The number is written one way in every pane.
    await sidebar.locator('.c-text.header', { hasText: 'SMS +44 7400 123456' }).waitFor(WAIT)
    await inbox.locator('#contact-details dd', { hasText: /^\+44 7400 123456$/ }).waitFor({ state: 'attached', ...WAIT })
    t.match(await customer.locator('option:checked').textContent(), /^\+44 7400 123456$/)
    // The welcome may not go abroad: the sidebar says so with the setting's name whole and countries named.
    await sidebar.getByRole('button', { name: 'Send welcome SMS' }).click()
    await sidebar
      .locator('.c-text', {
        hasText:
          /^The welcome SMS was not sent \(.*\): Automated texts to United Kingdom \(GB\) are not allowed \(SMS_ALLOWED_COUNTRIES: United States \(US\)\)\.$/,
      })
      .waitFor(WAIT)

    // Back to a known customer: their conversation opens.
    await customer.selectOption('+14155550123')
    await inbox.locator('#conversation-title', { hasText: '+1 415 555 0123' }).waitFor(WAIT)
    await sidebar.locator('.c-text.header', { hasText: 'SMS +1 415 555 0123' }).waitFor(WAIT)

    // A request the demo server never answers: a sentence, not the browser's "Failed to fetch".
    await page.route('**/api/phone/text', (route) => route.abort('connectionrefused'))
    await phone.getByLabel('Text message').fill('Are you there?')
    await phone.getByRole('button', { name: 'Send text' }).click()
    await phone.locator('#phone-error', { hasText: 'The demo server did not answer: is npm run demo still running?' }).waitFor(WAIT)
    t.notMatch(await phone.locator('#phone-error').textContent(), /Failed to fetch/)
    await page.unroute('**/api/phone/text')
    await shot(page, 'laptop-6-another-number.png')
    // The refused number (400) and the refused connection are the browser's own console lines; nothing else went wrong.
    t.same(
      errors.filter((e) => !/^Failed to load resource: (net::ERR_CONNECTION_REFUSED|the server responded with a status of 400)/.test(e)),
      [],
      'no errors on the page',
    )
  })

  await t.test('in an 800 px window: the inbox list sits above the conversation, words stay whole', async (t) => {
    const mid = await browser.newPage({ viewport: { width: 800, height: 900 } })
    await mid.goto(demo.url)
    await mid.locator('#inbox .part.customer').first().waitFor(WAIT)
    const width = (selector: string) => mid.evaluate<number>(`document.querySelector('${selector}').getBoundingClientRect().width`)
    t.ok((await width('#conversation-thread')) >= 300, 'the conversation has room for its words')
    t.ok((await width('#conversation-list')) >= 300, 'the list is above it, as wide')
    t.ok(await mid.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling')
    await shot(mid, 'laptop-7-800px.png')
    await mid.close()
  })

  await t.test('at phone width: the same state, one pane under another', async (t) => {
    const small = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
    const smallErrors = watchErrors(small)
    await small.goto(demo.url)
    await small.locator('#connection', { hasText: 'Live' }).waitFor(WAIT)
    await small.locator('#phone .bubble.theirs', { hasText: 'You have successfully been unsubscribed' }).waitFor(WAIT)
    await small.locator('#inbox .conversation-item').nth(1).waitFor(WAIT)
    await small.locator('#canvas .c-text.header', { hasText: /^SMS \+\d/ }).waitFor(WAIT)
    t.ok(await small.getByRole('navigation', { name: 'Panes' }).isVisible(), 'links to jump between panes')
    t.ok(await small.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling')
    // The webhook table is wider than a phone: it scrolls by itself, and says so.
    await small.locator('#traffic-details summary').click()
    await small.locator('#traffic-scroll-hint').waitFor({ state: 'visible', ...WAIT })
    t.ok(
      await small.evaluate("(() => { const w = document.querySelector('#traffic-wrap'); return w.scrollWidth > w.clientWidth })()"),
      'the table is wider than its box',
    )
    t.equal(await small.locator('#traffic-wrap').getAttribute('data-more'), 'right', 'shaded on the side with more columns')
    t.ok(
      await small.evaluate('document.documentElement.scrollWidth <= window.innerWidth'),
      'the page itself still does not scroll sideways',
    )
    await shot(small, 'phone-1-full-page.png')
    await small.getByRole('link', { name: 'Sidebar' }).click()
    await small.screenshot({ path: join(ARTIFACTS, 'phone-2-sidebar.png') })
    t.same(smallErrors, [], 'no errors on the page at phone width')
  })

  await t.test('the demo stops cleanly and printed nothing sensitive', async (t) => {
    t.equal(await demo.stop(), 0, 'the demo stops cleanly')
    const output = demo.output()
    t.notMatch(output, /\+?14155550123/, 'no full phone number in the output')
    t.notMatch(output, /Basic [A-Za-z0-9+/=]{20,}|Bearer \S{20,}/, 'no credentials in the output')
    // The one address printed as the one to open is the page's; the bridge's says what it is for.
    t.notMatch(output, /Server listening at/)
    const plainUrls = output
      .split('\n')
      .filter((line) => !line.startsWith('{'))
      .flatMap((line) => line.match(/https?:\/\/\S+/g) ?? [])
    t.same(plainUrls, [demo.url], 'only the page is printed to open')
    t.match(output, /the bridge listens at http:\/\/127\.0\.0\.1:\d+ for the simulators' webhooks/)
  })
}
