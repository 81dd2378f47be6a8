#!/usr/bin/env node
// The browser tests: one headless Debian Chromium (playwright-core) drives
// the built portal served by a real `atrium serve` (temp data dir, loopback,
// the fake model server tests/fake_model.py). Every *.test.mjs file in this
// folder exports `default async function (ctx)`; each runs in a fresh
// browser context (own cookies) and fails on a thrown error or on any
// console error / uncaught page error. Screenshots go to --out
// (build/web-artifacts). Prints "web: N passed, N failed".
//
// Usage: node tests/web/run.mjs [--atrium build/atrium] [--web web/dist]
//                               [--out build/web-artifacts] [--filter NAME]
//                               [--chromium /usr/bin/chromium]
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createRequire } from 'node:module'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..', '..')
const require = createRequire(path.join(ROOT, 'web', 'package.json'))
const { chromium } = require('playwright-core')

export const ADMIN_PASSWORD = 'Portal#2026-Adm9'
export const USER_PASSWORD = 'Counter#2026-Ab'
export const DESKTOP = { width: 1366, height: 768 }
export const PHONE = { width: 390, height: 844 }

function args() {
  const a = {
    atrium: path.join(ROOT, 'build', 'atrium'),
    web: path.join(ROOT, 'web', 'dist'),
    out: path.join(ROOT, 'build', 'web-artifacts'),
    filter: '',
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  }
  const v = process.argv.slice(2)
  for (let i = 0; i < v.length; i++) {
    const k = v[i].replace(/^--/, '')
    if (!(k in a) || i + 1 >= v.length) throw new Error('unknown or incomplete option ' + v[i])
    a[k] = v[++i]
  }
  for (const k of ['atrium', 'web', 'out']) a[k] = path.resolve(a[k])
  return a
}

export function check(cond, msg) {
  if (!cond) throw new Error(msg || 'check failed')
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function waitFor(fn, what, ms = 20000) {
  const end = Date.now() + ms
  let last
  while (Date.now() < end) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`)
}

function stopChild(p, ms = 8000) {
  return new Promise((resolve) => {
    if (!p || p.exitCode !== null || p.signalCode) return resolve(p ? p.exitCode : 0)
    const t = setTimeout(() => p.kill('SIGKILL'), ms)
    p.once('exit', (code, sig) => {
      clearTimeout(t)
      resolve(code === null ? sig : code)
    })
    p.kill('SIGTERM')
  })
}

// The fake OpenAI-compatible model (tests/fake_model.py).
async function startFake(workdir) {
  const portFile = path.join(workdir, 'fake_model.port')
  const log = fs.openSync(path.join(workdir, 'fake_model.log'), 'w')
  const proc = spawn('python3', [path.join(ROOT, 'tests', 'fake_model.py'), '--port', '0', '--port-file', portFile], {
    stdio: ['ignore', log, log],
  })
  const port = await waitFor(() => fs.existsSync(portFile) && Number(fs.readFileSync(portFile, 'utf8').trim()), 'the fake model')
  const base = `http://127.0.0.1:${port}`
  return {
    proc,
    port,
    base,
    async control(o) {
      const r = await fetch(base + '/control', { method: 'POST', body: JSON.stringify(o), headers: { 'Content-Type': 'application/json' } })
      check(r.ok, 'fake model control ' + r.status)
    },
    async requests() {
      return (await fetch(base + '/requests')).json()
    },
  }
}

// A real server with a fresh data dir, an admin made with the CLI, and a
// token for the harness's own API calls.
async function startServer(o, workdir, fake) {
  const data = path.join(workdir, 'data')
  fs.mkdirSync(data, { recursive: true })
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ATRIUM_')))
  Object.assign(env, {
    ATRIUM_LOG_LEVEL: 'info',
    ATRIUM_THREADS: '2',
    ATRIUM_WORKERS: '4',
    ATRIUM_WEB_DIR: o.web,
    ATRIUM_CHAT_URL: fake.base + '/v1',
    ATRIUM_CHAT_MODEL: 'fake',
    ATRIUM_MODEL_FIRST_TOKEN_TIMEOUT_MS: '1500',
    ATRIUM_MODEL_TOTAL_TIMEOUT_MS: '20000',
    ATRIUM_MODEL_COOLDOWN_S: '1',
    ATRIUM_RATE_LIMIT_BURST: '200',
    ATRIUM_RATE_LIMIT_PER_MIN: '2000',
  })
  const cli = (argv, input) => {
    const p = spawnSync(o.atrium, ['--data', data, ...argv], { input: input || '', env, encoding: 'utf8' })
    return { code: p.status, stdout: p.stdout || '', stderr: p.stderr || '' }
  }
  let r = cli(['user', 'add', 'root', '--admin'], ADMIN_PASSWORD + '\n')
  check(r.code === 0, 'user add root: ' + r.stderr)
  r = cli(['token', 'create', 'root', '--name', 'web-tests'])
  check(r.code === 0, 'token create: ' + r.stderr)
  const token = r.stdout.trim().split('\n').pop()
  const port = await freePort()
  const logPath = path.join(workdir, 'atrium.log')
  const log = fs.openSync(logPath, 'w')
  const proc = spawn(o.atrium, ['--data', data, 'serve', '--port', String(port)], { env, stdio: ['ignore', log, log] })
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => proc.exitCode === null && (await fetch(url + '/healthz')).ok, 'atrium serve')
  return { proc, port, url, token, cli, logPath, data }
}

// JSON API calls as the admin (or with opts.token).
function makeApi(srv) {
  return async function api(method, p, body, opts = {}) {
    const headers = { Authorization: 'Bearer ' + (opts.token || srv.token) }
    let b = body
    if (body !== undefined && !(body instanceof FormData)) {
      b = JSON.stringify(body)
      headers['Content-Type'] = 'application/json'
    }
    const r = await fetch(srv.url + p, { method, headers, body: b })
    const text = await r.text()
    let j = null
    try {
      j = text ? JSON.parse(text) : null
    } catch (_) {
      j = text
    }
    if (!opts.allowError && !r.ok) throw new Error(`${method} ${p} → ${r.status} ${text.slice(0, 300)}`)
    return opts.allowError ? { status: r.status, body: j } : j
  }
}

let seq = 0

function helpers(o, srv, api, fake) {
  const h = {
    // A local user (and a token for it). Returns {username, password, token, id}.
    async makeUser(prefix = 'user', opts = {}) {
      const username = `${prefix}${++seq}`
      const password = opts.password || USER_PASSWORD
      const u = await api('POST', '/api/v1/users', {
        username,
        password,
        display_name: opts.displayName || '',
        admin: !!opts.admin,
      })
      const t = await api('POST', `/api/v1/users/${username}/tokens`, { name: 'web' })
      return { username, password, token: t.token, id: (u.user || u).id }
    },
    // Waits for an ingest job of kb.
    async waitJob(kb, id, token) {
      return waitFor(async () => {
        const j = await api('GET', `/api/v1/kbs/${kb}/jobs/${id}`, undefined, { token })
        return j.status === 'done' || j.status === 'failed' ? j : null
      }, 'ingest job ' + id)
    },
    // Uploads files [{name, text}] into kb (as token's user) and waits.
    async upload(kb, files, token) {
      const fd = new FormData()
      for (const f of files) fd.append('file', new Blob([f.text]), f.name)
      const j = await api('POST', `/api/v1/kbs/${kb}/documents`, fd, { token })
      for (const job of j.jobs) {
        const done = await h.waitJob(kb, job.id, token)
        check(done.status === 'done', `ingest ${job.filename}: ${JSON.stringify(done.result)}`)
      }
    },
    // An enterprise KB with files, readable by every user (role "user")
    // unless opts.grant is false.
    async makeKb(name, files = [], opts = {}) {
      const kb = await api('POST', '/api/v1/kbs', { name })
      if (opts.grant !== false)
        await api('POST', `/api/v1/kbs/${kb.id}/acl`, { subject_type: 'role', subject: 'user', level: 'read' })
      if (files.length) await h.upload(kb.id, files)
      return kb
    },
    // Signs in through the sign-in page and waits for the shell.
    async signIn(page, user, password) {
      await page.goto(srv.url + '/#/login')
      await page.locator('#login-user').fill(user)
      await page.locator('#login-pass').fill(password)
      await page.locator('[data-test=login-submit]').click()
      await page.locator('.topbar').waitFor({ timeout: 10000 })
    },
    // A screenshot under the artifacts folder.
    async shot(page, name) {
      const file = path.join(o.out, name.replace(/[^\w.-]+/g, '_') + '.png')
      await page.screenshot({ path: file, fullPage: false })
      return file
    },
    // The last answer's text once its stream has finished.
    async answer(page) {
      const last = page.locator('[data-test=turn-assistant]').last()
      await last.and(page.locator('[data-state=done]')).waitFor({ timeout: 30000 })
      await page.locator('[data-test=send]').waitFor({ timeout: 30000 })
      return last.locator('[data-test=answer]').innerText()
    },
    // Asks a question in the open chat and returns the answer's text.
    async ask(page, question) {
      const before = await page.locator('[data-test=turn-assistant]').count()
      await page.locator('[data-test=composer-input]').fill(question)
      await page.keyboard.press('Enter')
      await waitFor(async () => (await page.locator('[data-test=turn-assistant]').count()) > before, 'an answer turn')
      return h.answer(page)
    },
    // Whether the page scrolls sideways.
    async horizontalScroll(page) {
      return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1)
    },
    waitFor,
    sleep,
  }
  return h
}

async function main() {
  const o = args()
  fs.mkdirSync(o.out, { recursive: true })
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-web-'))
  let passed = 0
  let failed = 0
  let fake = null
  let srv = null
  let browser = null
  const files = fs
    .readdirSync(HERE)
    .filter((f) => f.endsWith('.test.mjs') && (!o.filter || f.includes(o.filter)))
    .sort()
  try {
    check(fs.existsSync(path.join(o.web, 'index.html')), `no built portal in ${o.web} (run make web)`)
    check(fs.existsSync(o.chromium), `no Chromium at ${o.chromium} (scripts/install-deps.sh)`)
    fake = await startFake(workdir)
    srv = await startServer(o, workdir, fake)
    // One Chromium for every test; playwright gives it a fresh temporary
    // --user-data-dir, and each test a fresh context (cookies, storage).
    browser = await chromium.launch({
      executablePath: o.chromium,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-dev-shm-usage',
      ],
    })
    const api = makeApi(srv)
    const h = helpers(o, srv, api, fake)
    for (const file of files) {
      const name = file.replace(/\.test\.mjs$/, '')
      const t0 = Date.now()
      const contexts = []
      const problems = []
      // Console errors fail the test. The one expected: the 401 of
      // /api/v1/auth/me on a signed-out first load (how the portal asks
      // whether a session exists).
      const allowed = [{ text: /status of 401/, url: /\/api\/v1\/auth\/me$/ }]
      const watch = (page, label) => {
        page.on('console', (m) => {
          if (m.type() !== 'error') return
          const url = (m.location() && m.location().url) || ''
          if (allowed.some((a) => a.text.test(m.text()) && a.url.test(url))) return
          problems.push(`[${label}] console error: ${m.text()} ${url}`)
        })
        page.on('pageerror', (e) => problems.push(`[${label}] page error: ${e.message}`))
        return page
      }
      const ctx = {
        name,
        browser,
        url: srv.url,
        server: srv,
        fake,
        api,
        cli: srv.cli,
        check,
        ADMIN: { username: 'root', password: ADMIN_PASSWORD, token: srv.token },
        DESKTOP,
        PHONE,
        // A new page in a new context (viewport: DESKTOP unless given).
        async newPage(opts = {}) {
          const c = await browser.newContext({
            viewport: opts.viewport || DESKTOP,
            isMobile: !!opts.mobile,
            hasTouch: !!opts.mobile,
            deviceScaleFactor: 1,
            locale: 'zh-CN',
            timezoneId: 'Asia/Shanghai',
          })
          c.setDefaultTimeout(15000)
          contexts.push(c)
          return watch(await c.newPage(), opts.label || 'page' + contexts.length)
        },
        // Lets a test accept a console error it provokes on purpose.
        allowConsole(text, url = /.*/) {
          allowed.push({ text, url })
        },
        ...h,
      }
      try {
        const mod = await import(pathToFileURL(path.join(HERE, file)).href)
        check(typeof mod.default === 'function', file + ' exports no default function')
        ctx.page = await ctx.newPage({ label: 'desktop' })
        await mod.default(ctx)
        if (problems.length) throw new Error(problems.join('\n'))
        passed++
        console.log(`ok   ${name} (${Date.now() - t0} ms)`)
      } catch (e) {
        failed++
        console.log(`FAIL ${name}\n${(e && e.stack) || e}`)
        if (problems.length && !String(e.message).includes(problems[0])) console.log(problems.join('\n'))
        for (const [i, c] of contexts.entries())
          for (const [j, p] of c.pages().entries())
            await p.screenshot({ path: path.join(o.out, `FAIL-${name}-${i}-${j}.png`) }).catch(() => {})
      } finally {
        for (const c of contexts) await c.close().catch(() => {})
      }
    }
  } catch (e) {
    failed++
    console.log(`FAIL setup\n${(e && e.stack) || e}`)
  } finally {
    if (browser) await browser.close().catch(() => {})
    if (srv) {
      const code = await stopChild(srv.proc)
      const log = fs.readFileSync(srv.logPath, 'utf8')
      if (code === 0 && !log.includes('AddressSanitizer') && !log.includes('runtime error')) passed++
      else {
        failed++
        console.log(`FAIL server exit code ${code}\n${log.slice(-6000)}`)
      }
    }
    if (fake) await stopChild(fake.proc)
    if (failed) console.log('logs kept in ' + workdir)
    else fs.rmSync(workdir, { recursive: true, force: true })
  }
  console.log(`web: ${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

main()
