// The day-to-day admin pages against the real API: the org tree (create,
// rename, move, members), positions, roles (separation of duties refused
// with its reason), a user's roles and positions, sensitive words, the
// model registry with a test, a KB's synonyms and FAQ, and a 👎 from the
// review queue turned into a FAQ entry.
import { adminPage, openAdmin, asUser } from './admin-common.mjs'

export default async function (ctx) {
  const { check: expect } = ctx
  const tag = 'x'
  const page = await adminPage(ctx, { page: ctx.page })
  // Refusals the pages show on purpose: a role mixing audit.read (400), the
  // auditor role for an admin (409).
  ctx.allowConsole(/status of 400/, /\/api\/v1\/roles$/)
  ctx.allowConsole(/status of 409/, /\/api\/v1\/users\/\d+\/roles$/)
  await ctx.signIn(page, ctx.ADMIN.username, ctx.ADMIN.password)
  const mgr = await ctx.makeUser('mgr')
  const user = mgr.username
  const open = (p, route) => openAdmin(ctx, p, route)
  const shot = ctx.shot

  // Org tree: a root and a child, renamed, moved to the root level, a member.
  await open(page, '/admin/orgs')
  const root = '总行' + tag
  const child = '分行' + tag
  await page.getByLabel('新机构名称').fill(root)
  await page.getByLabel('新机构的上级').selectOption({ label: '（根机构）' })
  await page.getByRole('button', { name: '新建', exact: true }).click()
  await page.getByRole('button', { name: new RegExp('^' + root) }).click()
  await page.getByLabel('新机构名称').fill(child)
  await page.getByRole('button', { name: '新建', exact: true }).click()
  await page.getByRole('button', { name: new RegExp('^' + child) }).click()
  await page.locator('h2', { hasText: `${root}/${child}` }).waitFor()
  await page.getByLabel('机构名称', { exact: true }).fill(child + '营业部')
  await page.getByRole('button', { name: '改名' }).click()
  await page.locator('h2', { hasText: `${root}/${child}营业部` }).waitFor()
  await page.getByLabel('要加入的用户名').fill(user)
  await page.getByRole('button', { name: '加入' }).click()
  await page.getByRole('cell', { name: user }).waitFor()
  await page.getByLabel('移到哪个上级之下').selectOption('/')
  await page.getByRole('button', { name: '移动' }).click()
  await page.locator('h2', { hasText: new RegExp(`^${child}营业部$`) }).waitFor()
  // The root cannot go under its own (former) child: not offered, and the
  // server would refuse it. Deleting the root (no children now) works.
  await page.getByRole('button', { name: new RegExp('^' + root) }).click()
  await page.getByRole('button', { name: '删除机构' }).click()
  await page.getByText('已删除').waitFor()
  await shot(page, 'admin-orgs-done-desktop')

  // Positions.
  await open(page, '/admin/positions')
  const pos = '柜员' + tag
  await page.getByLabel('新岗位名称').fill(pos)
  await page.getByRole('button', { name: '新建岗位' }).click()
  await page.getByRole('cell', { name: pos }).waitFor()

  // Roles: audit.read with another permission is refused with the server's reason.
  await open(page, '/admin/roles')
  await page.getByLabel('新角色名称').fill('混合' + tag)
  await page.locator('form.adm-card input[value="audit.read"]').check()
  await page.locator('form.adm-card input[value="kb.create"]').check()
  await page.locator('form.adm-card').getByRole('button', { name: '新建' }).click()
  await page.locator('.adm-error').waitFor()
  await page.getByLabel('新角色名称').fill('知识管理员' + tag)
  await page.locator('form.adm-card input[value="audit.read"]').uncheck()
  await page.locator('form.adm-card').getByRole('button', { name: '新建' }).click()
  await page.getByText(`已新建角色“知识管理员${tag}”`).waitFor()
  await page.getByRole('checkbox', { name: `知识管理员${tag}：管理全部企业知识库` }).check()
  await page.getByRole('row', { name: new RegExp('知识管理员' + tag) }).getByRole('button', { name: '保存' }).click()
  await page.getByText('已保存').waitFor()

  // The user: a position, the admin role, then the auditor role is refused (409).
  await open(page, '/admin/users')
  await page.getByRole('link', { name: user }).click()
  await page.getByLabel('任命岗位').selectOption({ label: pos })
  await page.getByRole('button', { name: '任命岗位' }).click()
  await page.locator('.adm-tag', { hasText: pos }).waitFor()
  await page.getByLabel('授予角色').selectOption({ label: 'admin' })
  await page.getByRole('button', { name: '授予角色' }).click()
  await page.getByText('已授予角色 admin').waitFor()
  await page.getByLabel('授予角色').selectOption({ label: 'auditor' })
  await page.getByRole('button', { name: '授予角色' }).click()
  await page.locator('.adm-error', { hasText: '三员分立' }).waitFor()
  await shot(page, 'admin-users-sod-desktop')

  // Sensitive words.
  await open(page, '/admin/sensitive-words')
  await page.getByLabel('敏感词', { exact: true }).fill('内幕' + tag)
  await page.getByLabel('处理方式').selectOption('mask')
  await page.getByRole('button', { name: '添加' }).click()
  await page.getByRole('cell', { name: '内幕' + tag }).waitFor()
  await page.getByRole('row', { name: new RegExp('内幕' + tag) }).getByRole('button', { name: '删除' }).click()
  await page.getByText(`已删除“内幕${tag}”`).waitFor()

  // Models: register one on an address nobody answers; the test shows the failure per endpoint.
  await open(page, '/admin/models')
  const form = page.locator('form.adm-card', { hasText: '登记新模型' })
  await form.getByLabel('名称').fill('m' + tag)
  // Purpose asr: a model nobody calls, so the chat tests' fake model stays the default.
  await form.getByLabel('用途').selectOption('asr')
  await form.getByLabel('地址').fill('http://127.0.0.1:9/v1')
  await form.getByLabel('上游模型名').fill('nothing')
  await form.getByRole('button', { name: '登记' }).click()
  await page.getByText('已登记模型 m' + tag).waitFor()
  const card = page.locator('.model', { hasText: 'm' + tag })
  await card.getByRole('button', { name: '测试' }).click()
  await card.locator('.adm-tag', { hasText: '失败' }).waitFor({ timeout: 20000 })
  await shot(page, 'admin-models-test-desktop')
  await card.getByRole('button', { name: '删除' }).first().click()
  await page.getByText('已删除').waitFor()

  // A KB's synonyms and FAQ.
  const kb = await ctx.api('POST', '/api/v1/kbs', { name: '问答库' + tag })
  await ctx.api('POST', `/api/v1/kbs/${kb.id}/acl`, { subject_type: 'user', subject: user, level: 'read' })
  const as = asUser(ctx, mgr)
  await open(page, `/admin/kbs/${kb.id}/synonyms`)
  await page.getByLabel('新同义词组').fill(`挂失${tag}，报失${tag}`)
  await page.getByRole('button', { name: '添加' }).click()
  await page.getByText('已添加').waitFor()
  await page.getByLabel('筛选同义词').fill('挂失' + tag)
  await page.locator('.adm-tag', { hasText: '报失' + tag }).waitFor()
  await open(page, `/admin/kbs/${kb.id}/faq`)
  await page.getByLabel('标准问题').fill('银行卡丢了怎么办')
  await page.getByLabel('答案', { exact: true }).fill('请立即致电客服挂失，并携带身份证到网点补卡。')
  await page.getByLabel('相似问法').fill('卡丢了\n银行卡遗失如何处理')
  await page.getByRole('button', { name: '添加' }).click()
  await page.getByText('FAQ 已添加').waitFor()
  await page.locator('.adm-tag', { hasText: '银行卡遗失如何处理' }).waitFor()
  await open(page, `/admin/kbs/${kb.id}/feedback`)
  await page.getByText('没有待审核的反馈').waitFor()

  // A 👎 on an answer over this KB reaches its review queue; it becomes a FAQ.
  const conv = await as('POST', '/api/v1/conversations', { kbs: [kb.id] })
  const ans = await as('POST', `/api/v1/conversations/${conv.id}/ask`, { question: '存折密码忘了怎么办' + tag, no_model: true })
  await as('POST', `/api/v1/messages/${ans.message_id}/feedback`, { rating: -1, comment: '没有回答到点子上' })
  await page.getByRole('button', { name: '刷新' }).click()
  await page.getByText('没有回答到点子上').waitFor()
  await shot(page, 'admin-kb-feedback-queue-desktop')
  await page.getByRole('button', { name: '更正为 FAQ' }).click()
  expect((await page.getByLabel('更正后的标准问题').inputValue()).includes('存折密码忘了怎么办'), '标准问题应预填为原问题')
  await page.getByLabel('正确答案').fill('请本人携带身份证和存折到开户网点办理密码重置。')
  await page.getByRole('button', { name: '保存为 FAQ' }).click()
  await page.getByText('已保存为 FAQ').waitFor()
  await page.getByText('没有待审核的反馈').waitFor()
  await page.getByRole('link', { name: 'FAQ' }).click()
  await page.getByRole('cell', { name: '请本人携带身份证和存折到开户网点办理密码重置。' }).waitFor()
  expect(await page.getByRole('cell', { name: 'feedback:', exact: false }).count(), 'FAQ 的出处应指向反馈')
}
