// An administrator creates a user in the user page, two enterprise KBs,
// uploads a document into one (the ingest job followed to its end) and
// grants it to the user — meeting the 409 for the KB's last admin grant on
// the way, explained on the page; the user then signs in and sees that KB,
// and not the other one, at desktop and phone sizes.
import { adminPage, openAdmin } from './admin-common.mjs'

export default async function (ctx) {
  const { check } = ctx
  const user = 'teller_new'
  const pass = 'Teller#2026-Kb1'
  const kb = '柜面制度'
  const other = '内部资料'
  // The refused revoke is a 409 the page explains.
  ctx.allowConsole(/status of 409/, /\/api\/v1\/kbs\/\d+\/acl\/\d+$/)

  const page = await adminPage(ctx, { page: ctx.page })
  await ctx.signIn(page, ctx.ADMIN.username, ctx.ADMIN.password)

  await openAdmin(ctx, page, '/admin/users', '用户')
  const form = page.getByRole('form', { name: '新建用户' })
  await form.locator('input[name=username]').fill(user)
  await form.locator('input[name=display_name]').fill('新柜员')
  await form.locator('input[name=password]').fill(pass)
  await form.getByRole('button', { name: '新建' }).click()
  await page.getByText(`已新建用户 ${user}`).waitFor()
  await page.getByRole('link', { name: user }).waitFor()

  for (const k of [other, kb]) {
    await openAdmin(ctx, page, '/admin/kbs', '知识库管理')
    await page.getByLabel('新知识库名称').fill(k)
    await page.getByRole('button', { name: '新建' }).click()
    await page.locator('section.adm h1', { hasText: k }).waitFor()
  }
  await page.getByLabel('选择要上传的文件').setInputFiles({
    name: '柜面操作规程.md',
    mimeType: 'text/markdown',
    buffer: Buffer.from('# 柜面操作规程\n\n## 第一条\n柜员办理现金业务须双人复核，单笔超过五万元须主管授权。\n'),
  })
  await page.getByRole('button', { name: '上传', exact: true }).click()
  await page.locator('.job .adm-tag', { hasText: '完成' }).waitFor({ timeout: 20000 })
  await page.getByRole('cell', { name: '柜面操作规程.md' }).waitFor()
  await ctx.shot(page, 'admin-kb-docs-desktop')

  await page.locator('.adm-tabs').getByRole('link', { name: '访问授权' }).click()
  await page.getByLabel('授权对象类型').selectOption('user')
  await page.getByLabel('授权用户名').fill(user)
  await page.getByLabel('授权级别').selectOption('admin')
  await page.getByRole('button', { name: '授权', exact: true }).click()
  await page.getByRole('cell', { name: user }).waitFor()
  await page.getByRole('button', { name: '撤销' }).click()
  const err = page.locator('.adm-error', { hasText: '至少保留一个管理授权' })
  await err.waitFor()
  check((await err.innerText()).includes('conflict'), 'the 409 explanation names its code')
  await ctx.shot(page, 'admin-kb-acl-409-desktop')
  // The change posts a grant, then the list reloads: wait for both rather
  // than for a load state the page may have reached already (the select
  // shows the old level again while the request is in flight).
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/acl'))
  await page.getByLabel('修改级别：' + user).selectOption('read')
  check((await posted).ok(), 'the level change was accepted')
  const label = '修改级别：' + user
  await page
    .waitForFunction((l) => document.querySelector(`select[aria-label="${l}"]`)?.value === 'read', label, { timeout: 10000 })
    .catch(() => {})
  check((await page.getByLabel(label).inputValue()) === 'read', 'the grant is now read')
  const grants = await ctx.api('GET', '/api/v1/kbs/' + encodeURIComponent(kb) + '/acl')
  check(grants.grants.length === 1 && grants.grants[0].level === 'read' && grants.grants[0].subject === user, JSON.stringify(grants))

  for (const [size, viewport] of [['desktop', ctx.DESKTOP], ['phone', ctx.PHONE]]) {
    const up = await ctx.newPage({ viewport, mobile: size === 'phone', label: 'user-' + size })
    await ctx.signIn(up, user, pass)
    await up.goto(ctx.url + '/#/kbs')
    await up.getByText(kb).first().waitFor()
    await up.waitForLoadState('networkidle')
    check(!(await up.getByText(other).count()), `${user} sees the KB not granted to them`)
    await ctx.shot(up, `admin-kb-granted-user-${size}`)
  }
}
