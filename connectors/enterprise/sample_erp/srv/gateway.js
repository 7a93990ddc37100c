// What stands in front of the OData services, as an SAP Gateway would: CSRF tokens per
// session cookie, an OAuth2 client-credentials token endpoint whose bearer tokens sign in
// as a mocked user, plus test hooks under /-/ (no auth) to make the peer fail, slow down,
// or forget its tokens. Plain express middleware; mounted by server.js at bootstrap.
const crypto = require('node:crypto')

const SESSION_COOKIE = 'SAP_SESSIONID_ERP'
const MODIFYING = new Set(['POST', 'PUT', 'PATCH', 'MERGE', 'DELETE'])
const csrfOn = !['off', '0', 'false', 'no'].includes(String(process.env.CSRF || 'on').toLowerCase())

const sessions = new Map() // session id -> CSRF token
const state = { ready: false, fail: null, slow: null, stats: newStats() }

// OAuth2 clients (client id -> secret and the mocked user their tokens sign in as).
const OAUTH_CLIENTS = { 'hub-client': { secret: 'hub-client-secret', user: 'alice:alice-secret' } }
const TOKEN_LIFETIME_S = 3600
const tokens = new Map() // access token -> { user, expires (ms) }

function newStats() {
  return { requests: 0, byMethod: {}, csrfFetched: 0, csrfRejected: 0, failed: 0, tokensIssued: 0, bearerRejected: 0 }
}

function cookies(req) {
  const found = {}
  for (const part of (req.headers.cookie || '').split(';')) {
    const at = part.indexOf('=')
    if (at > 0) found[part.slice(0, at).trim()] = decodeURIComponent(part.slice(at + 1).trim())
  }
  return found
}

function query(req) {
  return new URL(req.originalUrl || req.url, 'http://localhost').searchParams
}

function isService(req) {
  return (req.originalUrl || req.url).startsWith('/odata/')
}

// The V2 adapter serves /odata/v2 by calling /odata/v4 on this same server over HTTP,
// passing the request's headers on: faults() marks every outer V2 request with a secret
// of this process, so such inner requests (already counted and checked) are known, its
// $metadata fetch included (that one lacks the x-cds-odata-version header of the others).
const INNER = crypto.randomBytes(16).toString('hex')

function isInner(req) {
  return req.headers['x-sample-erp-inner'] === INNER && (req.originalUrl || req.url).startsWith('/odata/v4/')
}

function odataError(req, res, status, code, message) {
  const v2 = (req.originalUrl || req.url).startsWith('/odata/v2/')
  const error = v2 ? { code, message: { lang: 'en', value: message } } : { code, message }
  res.status(status).set('content-type', 'application/json').send(JSON.stringify({ error }))
}

// The client's id and secret from Basic auth or the form (RFC 6749 2.3.1).
function oauthClient(req, form) {
  const [scheme, value] = String(req.headers.authorization || '').split(' ')
  if (scheme && scheme.toLowerCase() === 'basic' && value) {
    const pair = Buffer.from(value, 'base64').toString('utf8')
    const at = pair.indexOf(':')
    const decode = (text) => { try { return decodeURIComponent(text) } catch { return text } }
    return [decode(pair.slice(0, at)), decode(pair.slice(at + 1))]
  }
  return [form.get('client_id'), form.get('client_secret')]
}

function issueToken(req, res) {
  let raw = ''
  req.setEncoding('utf8')
  req.on('data', (chunk) => { raw += chunk; if (raw.length > 8192) req.destroy() })
  req.on('end', () => {
    const form = new URLSearchParams(raw)
    if (form.get('grant_type') !== 'client_credentials') {
      return res.status(400).json({ error: 'unsupported_grant_type' })
    }
    const [id, secret] = oauthClient(req, form)
    const client = OAUTH_CLIENTS[id]
    if (!client || client.secret !== secret) return res.status(401).json({ error: 'invalid_client' })
    const token = crypto.randomBytes(24).toString('base64url')
    tokens.set(token, { user: client.user, expires: Date.now() + TOKEN_LIFETIME_S * 1000 })
    state.stats.tokensIssued += 1
    res.set('cache-control', 'no-store').json({ access_token: token, token_type: 'Bearer', expires_in: TOKEN_LIFETIME_S })
  })
}

function hooks(req, res, next) {
  const path = (req.originalUrl || req.url).split('?')[0]
  if (!path.startsWith('/-/')) return next()
  const q = query(req)
  const route = `${req.method} ${path}`
  switch (route) {
    case 'POST /-/oauth/token':
      return issueToken(req, res)
    case 'POST /-/oauth/revoke':
      tokens.clear()
      return res.status(204).end()
    case 'GET /-/health':
      return res.status(state.ready ? 200 : 503).json({ ready: state.ready, csrf: csrfOn })
    case 'GET /-/stats':
      return res.json(state.stats)
    case 'POST /-/expire-csrf':
      sessions.clear()
      return res.status(204).end()
    case 'POST /-/fail': {
      const status = Number(q.get('status') || 503)
      const count = Number(q.get('count') || 1)
      const retryAfter = q.get('retry_after')
      if (!Number.isInteger(status) || status < 400 || status > 599 || !Number.isInteger(count) || count < 0) {
        return res.status(400).json({ error: 'status must be 400-599 and count a whole number' })
      }
      state.fail = count ? { status, remaining: count, retryAfter } : null
      return res.status(204).end()
    }
    case 'POST /-/slow': {
      const ms = Number(q.get('ms') || 1000)
      const count = Number(q.get('count') || 1)
      if (!(ms >= 0) || !Number.isInteger(count) || count < 0) {
        return res.status(400).json({ error: 'ms must be >= 0 and count a whole number' })
      }
      state.slow = count ? { ms, remaining: count } : null
      return res.status(204).end()
    }
    case 'POST /-/reset':
      state.fail = null
      state.slow = null
      state.stats = newStats()
      return res.status(204).end()
    default:
      return res.status(404).json({ error: `no test hook ${route}` })
  }
}

function faults(req, res, next) {
  if (!isService(req) || isInner(req)) return next()
  if ((req.originalUrl || req.url).startsWith('/odata/v2/')) req.headers['x-sample-erp-inner'] = INNER
  const stats = state.stats
  stats.requests += 1
  stats.byMethod[req.method] = (stats.byMethod[req.method] || 0) + 1
  const fail = state.fail
  if (fail && fail.remaining > 0) {
    fail.remaining -= 1
    if (fail.remaining === 0) state.fail = null
    stats.failed += 1
    if (fail.retryAfter) res.set('retry-after', String(fail.retryAfter))
    return odataError(req, res, fail.status, String(fail.status), `Injected failure (status ${fail.status})`)
  }
  const slow = state.slow
  if (slow && slow.remaining > 0) {
    slow.remaining -= 1
    if (slow.remaining === 0) state.slow = null
    return void setTimeout(next, slow.ms)
  }
  next()
}

// A bearer token from /-/oauth/token signs in as its client's mocked user (CAP's mocked
// auth takes Basic); an unknown, revoked or expired one gets 401 before anything else.
function bearer(req, res, next) {
  const [scheme, token] = String(req.headers.authorization || '').split(' ')
  if (!isService(req) || isInner(req) || !scheme || scheme.toLowerCase() !== 'bearer') return next()
  const found = tokens.get(token)
  if (!found || found.expires <= Date.now()) {
    tokens.delete(token)
    state.stats.bearerRejected += 1
    res.set('www-authenticate', 'Bearer error="invalid_token"')
    return odataError(req, res, 401, '401', 'The access token is invalid or has expired')
  }
  req.headers.authorization = 'Basic ' + Buffer.from(found.user).toString('base64')
  next()
}

function csrf(req, res, next) {
  if (!csrfOn || isInner(req)) return next()
  const asked = String(req.headers['x-csrf-token'] || '')
  if ((req.method === 'GET' || req.method === 'HEAD') && asked.toLowerCase() === 'fetch') {
    let session = cookies(req)[SESSION_COOKIE]
    if (!session || !sessions.has(session)) {
      session = crypto.randomBytes(16).toString('hex')
      sessions.set(session, crypto.randomBytes(18).toString('base64url'))
      res.append('set-cookie', `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict`)
    }
    state.stats.csrfFetched += 1
    res.set('x-csrf-token', sessions.get(session))
    return next()
  }
  const method = String(req.headers['x-http-method'] || req.method).toUpperCase()
  if (!isService(req) || !(MODIFYING.has(method) || MODIFYING.has(req.method))) return next()
  // Authentication first, as on a Gateway: an anonymous request gets CAP's 401, not 403.
  if (!req.headers.authorization) return next()
  const session = cookies(req)[SESSION_COOKIE]
  if (asked && session && sessions.get(session) === asked) return next()
  state.stats.csrfRejected += 1
  res.status(403).set('x-csrf-token', 'Required').set('content-type', 'text/plain').send('CSRF token validation failed')
}

module.exports = { hooks, faults, bearer, csrf, state, csrfOn }
