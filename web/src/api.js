// The one door to the server: JSON in and out, the session cookie plus the
// CSRF token on writes, the API's error codes turned into clear zh-CN
// messages, and SSE streams read from fetch (EventSource cannot POST).
import { reactive } from 'vue'

// Who is signed in: filled by loadMe() and login(), cleared by logout().
export const session = reactive({ user: null, perms: [], csrf: '', loaded: false })

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

// The API's error codes in the words a teller should read.
const CODE_TEXT = {
  unauthorized: '请先登录',
  session_expired: '登录已过期，请重新登录',
  csrf_failed: '页面已过期，请刷新后重试',
  forbidden: '没有权限执行此操作',
  not_found: '内容不存在或无权访问',
  invalid_request: '请求内容有误',
  exists: '名称已存在',
  conflict: '与现有数据冲突',
  too_large: '文件或内容过大',
  unsupported: '不支持的文件类型',
  rate_limited: '操作太频繁，请稍后再试',
  busy: '服务繁忙，请稍后再试',
  unavailable: '服务暂不可用，请稍后再试',
  locked: '账户已被锁定，请稍后再试或联系管理员',
  bad_credentials: '用户名或密码错误',
  too_many_requests: '请求太多，请稍后再试',
  unsupported_media_type: '不支持的文件类型',
  unprocessable: '文件无法解析',
  io_error: '服务器无法保存文件，请稍后再试',
  store_error: '数据存储暂不可用，请稍后再试',
  upstream_error: '上游服务不可用，请稍后再试',
  upstream_timeout: '上游服务超时，请稍后再试',
  internal_error: '服务器内部错误，请联系管理员',
  method_not_allowed: '不支持的操作',
  uri_too_long: '请求地址过长',
  quality_gate: '未通过质量门槛',
}

// The text for a code alone (an SSE error event, for instance).
export function codeText(code, message) {
  const server = (message || '').split(' / ')[0]
  return server || CODE_TEXT[code] || '出错了，请稍后再试'
}

// A message for people: the server's zh-CN part when it gave one, else the
// code's text, else the HTTP status.
export function errorText(err) {
  if (!err) return ''
  if (err instanceof ApiError) {
    const server = (err.message || '').split(' / ')[0]
    if (server) return server
    return CODE_TEXT[err.code] || `请求失败（${err.status}）`
  }
  if (err.name === 'AbortError') return '已取消'
  return '网络连接失败，请检查网络后重试'
}

function headers(method, extra) {
  const h = { Accept: 'application/json', ...extra }
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) h['X-CSRF-Token'] = session.csrf
  return h
}

async function fail(res) {
  let code = 'http_' + res.status
  let message = ''
  try {
    const j = await res.json()
    if (j && j.error) {
      code = j.error.code || code
      message = j.error.message || ''
    }
  } catch (_) {
    /* not JSON: keep the status */
  }
  if (res.status === 401 && session.user) {
    session.user = null
    window.dispatchEvent(new CustomEvent('atrium:signed-out'))
  }
  throw new ApiError(res.status, code, message)
}

// api('GET', '/api/v1/kbs') → parsed JSON (null for 204). Throws ApiError.
export async function api(method, path, body, opts = {}) {
  const init = { method, credentials: 'same-origin', headers: headers(method, opts.headers) }
  if (body instanceof FormData) init.body = body
  else if (body !== undefined) {
    init.body = JSON.stringify(body)
    init.headers['Content-Type'] = 'application/json'
  }
  if (opts.signal) init.signal = opts.signal
  const res = await fetch(path, init)
  if (!res.ok) await fail(res)
  if (res.status === 204) return null
  const type = res.headers.get('Content-Type') || ''
  return type.includes('json') ? res.json() : res.text()
}
export const get = (p, o) => api('GET', p, undefined, o)
export const post = (p, b, o) => api('POST', p, b === undefined ? {} : b, o)
export const patch = (p, b, o) => api('PATCH', p, b, o)
export const del = (p, o) => api('DELETE', p, undefined, o)

// Uploads one file as multipart/form-data (field "file").
export function upload(path, file, fields = {}) {
  const fd = new FormData()
  for (const [k, v] of Object.entries(fields)) fd.append(k, v)
  fd.append('file', file, file.name)
  return api('POST', path, fd)
}

// Uploads files (field "file", several at once) with progress: onProgress
// gets 0..1. Resolves with the parsed JSON answer; rejects with ApiError.
export function uploadFiles(path, files, onProgress) {
  return new Promise((resolve, reject) => {
    const fd = new FormData()
    for (const f of files) fd.append('file', f, f.name)
    const x = new XMLHttpRequest()
    x.open('POST', path)
    x.withCredentials = true
    x.setRequestHeader('Accept', 'application/json')
    if (session.csrf) x.setRequestHeader('X-CSRF-Token', session.csrf)
    x.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total)
    }
    x.onerror = () => reject(new TypeError('network'))
    x.onload = () => {
      let j = null
      try {
        j = JSON.parse(x.responseText)
      } catch (_) {
        /* not JSON */
      }
      if (x.status >= 200 && x.status < 300) return resolve(j)
      if (x.status === 401 && session.user) {
        session.user = null
        window.dispatchEvent(new CustomEvent('atrium:signed-out'))
      }
      const e = (j && j.error) || {}
      reject(new ApiError(x.status, e.code || 'http_' + x.status, e.message || ''))
    }
    x.send(fd)
  })
}

// Polls a KB's ingest job until it is done or failed; onUpdate(job) each time.
export async function waitJob(kb, id, onUpdate, opts = {}) {
  const every = opts.every || 700
  for (let i = 0; i < (opts.max || 600); i++) {
    const job = await get(`/api/v1/kbs/${encodeURIComponent(kb)}/jobs/${id}`)
    if (onUpdate) onUpdate(job)
    if (job.status === 'done' || job.status === 'failed') return job
    await new Promise((r) => setTimeout(r, every))
  }
  throw new ApiError(0, 'timeout', '导入超时，请稍后刷新查看')
}

// POSTs body and calls onEvent(name, data) for each SSE event of the
// answer; resolves when the stream ends. opts.signal stops it.
export async function stream(path, body, onEvent, opts = {}) {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: headers('POST', { 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
    body: JSON.stringify(body || {}),
    signal: opts.signal,
  })
  if (!res.ok) await fail(res)
  const reader = res.body.getReader()
  const dec = new TextDecoder()
  let pending = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    pending += dec.decode(value, { stream: true })
    let cut
    while ((cut = pending.search(/\r?\n\r?\n/)) >= 0) {
      const block = pending.slice(0, cut)
      pending = pending.slice(cut).replace(/^\r?\n\r?\n/, '')
      let name = 'message'
      const data = []
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) name = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
      }
      if (!data.length) continue
      let parsed = data.join('\n')
      try {
        parsed = JSON.parse(parsed)
      } catch (_) {
        /* plain text */
      }
      onEvent(name, parsed)
    }
  }
}

export async function loadMe() {
  try {
    const me = await get('/api/v1/auth/me')
    setMe(me)
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e
    session.user = null
  } finally {
    session.loaded = true
  }
  return session.user
}

function setMe(me) {
  session.user = me.user || me
  session.perms = me.perms || (me.user && me.user.perms) || []
  if (me.csrf_token) session.csrf = me.csrf_token
}

export async function login(username, password) {
  const me = await post('/api/v1/auth/login', { username, password })
  setMe(me)
  return session.user
}

export async function logout() {
  try {
    await post('/api/v1/auth/logout')
  } finally {
    session.user = null
    session.csrf = ''
    session.perms = []
  }
}

// Whether the signed-in user holds a permission such as "users.manage".
export const can = (perm) => session.perms.includes(perm)
