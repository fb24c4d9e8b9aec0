import t from 'tap'
import { createHmac } from 'node:crypto'
import { verifyCanvasSignature, verifyIntercomWebhook, verifyTwilioSignature } from '../../shared/signatures.js'

// Computed independently of the code under test, following Twilio's published algorithm.
function twilioSignature(token: string, url: string, params: Record<string, string>) {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url)
  return createHmac('sha1', token).update(Buffer.from(data, 'utf-8')).digest('base64')
}

t.test('Twilio signatures', async (t) => {
  const token = '12345'
  const url = 'https://sms-bridge.example.com/twilio/sms?team=eu'
  const params = { From: '+14155550123', To: '+14155550100', Body: 'Hi 👋 <b>there</b>', MessageSid: 'SM1', NumMedia: '0' }
  const sig = twilioSignature(token, url, params)
  t.equal(verifyTwilioSignature(token, sig, url, params), true, 'valid')
  t.equal(verifyTwilioSignature(token, sig, url, { ...params, NewParam: 'x' }), false, 'a parameter added in transit')
  const withNew = { ...params, SomeFutureParam: 'value' }
  t.equal(verifyTwilioSignature(token, twilioSignature(token, url, withNew), url, withNew), true, 'new parameters Twilio adds are covered')
  t.equal(verifyTwilioSignature(token, sig, url, { ...params, Body: 'changed' }), false, 'changed body')
  t.equal(verifyTwilioSignature(token, sig, 'http://internal:3000/twilio/sms?team=eu', params), false, 'another URL')
  t.equal(verifyTwilioSignature('other', sig, url, params), false, 'another token')
  t.equal(verifyTwilioSignature(token, undefined, url, params), false, 'missing')
  t.equal(verifyTwilioSignature(token, '', url, params), false, 'empty')
})

t.test('Intercom webhook signatures', async (t) => {
  const secret = 'client-secret'
  const body = JSON.stringify({ type: 'notification_event', topic: 'ping', data: { item: { text: 'é 👋' } } })
  const hex = createHmac('sha1', secret).update(body).digest('hex')
  t.equal(verifyIntercomWebhook(secret, body, `sha1=${hex}`), true)
  t.equal(verifyIntercomWebhook(secret, Buffer.from(body), `sha1=${hex}`), true, 'raw bytes')
  t.equal(verifyIntercomWebhook(secret, body, hex), false, 'prefix required')
  t.equal(verifyIntercomWebhook(secret, body, `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`), false, 'the guide\'s SHA-256 is wrong')
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
