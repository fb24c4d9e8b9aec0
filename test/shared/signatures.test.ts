import t from 'tap'
import { createHmac } from 'node:crypto'
import { verifyCanvasSignature, verifyIntercomWebhook, verifyTwilioSignature } from '../../shared/signatures.js'

// Computed independently of the code under test, following Twilio's published algorithm.
function twilioSignature(token: string, url: string, params: Record<string, string>, hash: 'sha1' | 'sha256' = 'sha1') {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url)
  return createHmac(hash, token).update(Buffer.from(data, 'utf-8')).digest('base64')
}

t.test('Twilio signatures', async (t) => {
  const token = '12345'
  const secrets = { authToken: token, sharedKeys: [] }
  const check = (s: typeof secrets, sig: string | undefined, u: string, p: Record<string, string>) =>
    verifyTwilioSignature(s, { signature: sig, url: u, params: p }).ok
  const url = 'https://sms-bridge.example.com/twilio/sms?team=eu'
  const params = { From: '+14155550123', To: '+14155550100', Body: 'Hi 👋 <b>there</b>', MessageSid: 'SM1', NumMedia: '0' }
  const sig = twilioSignature(token, url, params)
  t.equal(check(secrets, sig, url, params), true, 'valid')
  t.equal(check(secrets, sig, url, { ...params, NewParam: 'x' }), false, 'a parameter added in transit')
  const withNew = { ...params, SomeFutureParam: 'value' }
  t.equal(check(secrets, twilioSignature(token, url, withNew), url, withNew), true, 'new parameters Twilio adds are covered')
  t.equal(check(secrets, sig, url, { ...params, Body: 'changed' }), false, 'changed body')
  t.equal(check(secrets, sig, 'http://internal:3000/twilio/sms?team=eu', params), false, 'another URL')
  t.equal(check({ authToken: 'other', sharedKeys: [] }, sig, url, params), false, 'another token')
  t.equal(check(secrets, undefined, url, params), false, 'missing')
  t.equal(check(secrets, '', url, params), false, 'empty')
})

t.test('Twilio signatures with a shared key (Webhooks API): HMAC-SHA256 over the same string, and rotation', async (t) => {
  const url = 'https://sms-bridge.example.com/twilio/sms'
  const params = { From: '+14155550123', To: '+14155550100', Body: 'hello', MessageSid: 'SM1' }
  const settings = 'key=KS00000000000000000000000000000001,algorithm=HMAC_SHA256'
  const oldKey = 'old-shared-key-0123456789'
  const newKey = 'new-shared-key-0123456789'
  const signedNew = twilioSignature(newKey, url, params, 'sha256')
  t.same(verifyTwilioSignature({ authToken: 'token', sharedKeys: [newKey] }, { signature: signedNew, url, params, settings }), {
    ok: true,
    scheme: 'shared_key',
  })
  t.same(
    verifyTwilioSignature({ authToken: 'token', sharedKeys: [oldKey, newKey] }, { signature: signedNew, url, params, settings }),
    { ok: true, scheme: 'shared_key' },
    'during a rotation either key',
  )
  t.same(
    verifyTwilioSignature(
      { authToken: 'token', sharedKeys: [oldKey, newKey] },
      { signature: twilioSignature(oldKey, url, params, 'sha256'), url, params, settings },
    ).ok,
    true,
  )
  t.same(
    verifyTwilioSignature({ authToken: 'token', sharedKeys: [oldKey] }, { signature: signedNew, url, params, settings }),
    { ok: false, scheme: 'shared_key' },
    'the new key not added yet',
  )
  t.same(
    verifyTwilioSignature({ authToken: 'token', sharedKeys: [] }, { signature: signedNew, url, params, settings }),
    { ok: false, scheme: 'shared_key' },
    'no shared key configured',
  )
  t.equal(
    verifyTwilioSignature({ authToken: newKey, sharedKeys: [] }, { signature: signedNew, url, params }).ok,
    false,
    "without the settings header it is the auth token's HMAC-SHA1 that counts",
  )
  t.equal(
    verifyTwilioSignature(
      { authToken: 'token', sharedKeys: [newKey] },
      { signature: twilioSignature(newKey, url, params, 'sha1'), url, params, settings },
    ).ok,
    false,
    'the algorithm the header names is the one checked',
  )
})

t.test('Intercom webhook signatures', async (t) => {
  const secret = 'client-secret'
  const body = JSON.stringify({ type: 'notification_event', topic: 'ping', data: { item: { text: 'é 👋' } } })
  const hex = createHmac('sha1', secret).update(body).digest('hex')
  t.equal(verifyIntercomWebhook(secret, body, `sha1=${hex}`), true)
  t.equal(verifyIntercomWebhook(secret, Buffer.from(body), `sha1=${hex}`), true, 'raw bytes')
  t.equal(verifyIntercomWebhook(secret, body, hex), false, 'prefix required')
  t.equal(
    verifyIntercomWebhook(secret, body, `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`),
    false,
    "the guide's SHA-256 is wrong",
  )
  t.equal(verifyIntercomWebhook(secret, body + ' ', `sha1=${hex}`), false, 'body changed')
  t.equal(verifyIntercomWebhook('other', body, `sha1=${hex}`), false, 'other secret')
  t.equal(verifyIntercomWebhook(secret, body, `sha1=${hex.slice(0, -1)}`), false, 'truncated')
  t.equal(verifyIntercomWebhook(secret, body, undefined), false, 'missing')
})

t.test('Canvas Kit signatures', async (t) => {
  const secret = 'client-secret'
  const body = JSON.stringify({ workspace_id: 'abc', component_id: 'send' })
  const hex = createHmac('sha256', secret).update(body).digest('hex')
  t.equal(verifyCanvasSignature(secret, body, hex), true)
  t.equal(verifyCanvasSignature(secret, body, hex.toUpperCase()), true, 'hex case does not matter')
  t.equal(verifyCanvasSignature(secret, body, `sha256=${hex}`), false, 'no prefix')
  t.equal(verifyCanvasSignature(secret, `${body}x`, hex), false)
  t.equal(verifyCanvasSignature(secret, body, undefined), false)
})
