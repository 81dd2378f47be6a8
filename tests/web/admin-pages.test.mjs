// Every admin page opens for an administrator at desktop and phone sizes
// with its heading, no error box, no sideways scrolling of the page (wide
// tables scroll inside their box); built-in roles are read-only; the
// audit log is the auditor's alone: filters by action prefix and verifies
// the chain. Screenshots of each page at both sizes.
import { adminPage, openAdmin } from './admin-common.mjs'

const PAGES = [
  ['/admin', '管理后台'],
  ['/admin/orgs', '机构与成员'],
  ['/admin/users', '用户'],
  ['/admin/positions', '岗位'],
  ['/admin/roles', '角色'],
  ['/admin/kbs', '知识库管理'],
  ['/admin/models', '模型登记'],
  ['/admin/sensitive-words', '敏感词'],
]
// The digital-employee pages and the dashboard are checked by
// admin-agent.test.mjs (they need the #5 back end).

export default async function (ctx) {
  const { check } = ctx
  await ctx.makeKb('页面巡检库', [{ name: '规定.md', text: '# 规定\n\n第一条 巡检。\n' }])
  for (const [size, viewport] of [['desktop', ctx.DESKTOP], ['phone', ctx.PHONE]]) {
    const page = await adminPage(ctx, size === 'desktop' ? { page: ctx.page } : { viewport, mobile: true, label: 'phone' })
    await ctx.signIn(page, ctx.ADMIN.username, ctx.ADMIN.password)
    for (const [route, title] of PAGES) {
      await openAdmin(ctx, page, route, title)
      const errs = await page.locator('.adm-error').allInnerTexts()
      check(!errs.length, `${route} (${size}) shows an error: ${errs.join(' | ')}`)
      if (size === 'phone') check(!(await ctx.horizontalScroll(page)), `${route} scrolls sideways on a phone`)
      await ctx.shot(page, `${route.slice(1).replace(/\//g, '-')}-${size}`)
    }
    // A KB's tabs.
    await openAdmin(ctx, page, '/admin/kbs', '知识库管理')
    await page.getByRole('link', { name: '页面巡检库' }).click()
    for (const tab of ['文档', '访问授权', '同义词', 'FAQ', '反馈审核']) {
      await page.locator('.adm-tabs').getByRole('link', { name: tab }).click()
      await page.waitForLoadState('networkidle')
      check(!(await page.locator('.adm-error').count()), `KB tab ${tab} (${size}) shows an error`)
      if (size === 'phone') check(!(await ctx.horizontalScroll(page)), `KB tab ${tab} scrolls sideways on a phone`)
    }
    await ctx.shot(page, `admin-kb-feedback-${size}`)
    // Built-in roles are read-only.
    await openAdmin(ctx, page, '/admin/roles', '角色')
    check(await page.getByRole('checkbox', { name: 'admin：用户管理', exact: true }).isDisabled(), 'a built-in role can be edited')
    // The audit log is not the administrator's: the router sends them away.
    await page.goto(ctx.url + '/#/admin/audit')
    await page.waitForLoadState('networkidle')
    check(!(await page.locator('section.adm h1', { hasText: '审计日志' }).count()), 'an admin opened the audit log')
  }

  const aud = await ctx.makeUser('auditor')
  await ctx.api('POST', `/api/v1/users/${aud.username}/roles`, { role: 'auditor' })
  for (const [size, viewport] of [['desktop', ctx.DESKTOP], ['phone', ctx.PHONE]]) {
    const page = await adminPage(ctx, { viewport, mobile: size === 'phone', label: 'auditor-' + size })
    await ctx.signIn(page, aud.username, aud.password)
    await openAdmin(ctx, page, '/admin/audit', '审计日志')
    await page.locator('.adm-table tbody tr').first().waitFor()
    await page.getByRole('button', { name: '校验哈希链' }).click()
    await page.getByText('哈希链完整').waitFor()
    await page.getByLabel('按操作筛选').fill('auth.')
    // wait for the filtered list itself: a load state reached before the
    // click would let the check read the unfiltered rows
    const filtered = page.waitForResponse((r) => r.url().includes('/api/v1/audit?') && r.url().includes('action=auth.'))
    await page.getByRole('button', { name: '查询' }).click()
    check((await filtered).ok(), 'the filtered audit query failed')
    await page.waitForFunction(() => [...document.querySelectorAll('.adm-table tbody tr td:nth-child(4)')].every((td) => td.innerText.startsWith('auth.')), null, { timeout: 10000 }).catch(() => {})
    const actions = await page.locator('.adm-table tbody tr td:nth-child(4)').allInnerTexts()
    check(actions.length && actions.every((a) => a.startsWith('auth.')), 'prefix filter: ' + actions.join(','))
    if (size === 'phone') check(!(await ctx.horizontalScroll(page)), 'the audit log scrolls sideways on a phone')
    await ctx.shot(page, `admin-audit-${size}`)
  }
}
