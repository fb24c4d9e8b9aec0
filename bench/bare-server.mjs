// The ceiling for the benchmark: a bare Fastify route with formbody, answering as the bridge does,
// in a process of its own like the service. Prints its port, then serves until killed.
import Fastify from 'fastify'
import formbody from '@fastify/formbody'

const app = Fastify({ logger: false })
await app.register(formbody)
app.post('/twilio/sms', async (_req, reply) => reply.type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>'))
await app.listen({ port: 0, host: '127.0.0.1' })
console.log(`PORT ${app.server.address().port}`)
