// Digital employees from the user side: the gallery (cards by domain) shows
// a published agent granted to everyone, its chat shows the opening message
// and suggested questions; a suggestion asks it and the answer streams in
// the same chat panel. A draft-only agent is not in the gallery.
export default async function (ctx) {
  const { page, check, api } = ctx
  const kb = await ctx.makeKb('理财产品库', [
    { name: '理财说明.md', text: '# 理财产品说明\n\n第一条 稳健理财产品的起购金额为一万元，期限九十天。\n' },
  ])
  const name = 'wealth' + Date.now().toString(36)
  const spec = {
    prompt: '你是理财产品顾问，只依据知识库回答。',
    kbs: [kb.id],
    tools: ['kb_search'],
    opening: '您好，我是理财顾问小恒，可以为您解答理财产品问题。',
    suggestions: ['稳健理财产品起购金额是多少？', '理财产品期限多长？'],
  }
  await api('POST', '/api/v1/agents', { name, title: '理财顾问', domain: '个人金融', description: '解答理财产品的起购金额、期限等问题', spec })
  await api('POST', `/api/v1/agents/${name}/versions/1/publish`, {})
  await api('POST', `/api/v1/agents/${name}/acl`, { subject: 'all' })
  const draft = 'draft' + Date.now().toString(36)
  await api('POST', '/api/v1/agents', { name: draft, title: '未发布助手', domain: '个人金融', spec: { prompt: '草稿' } })

  const u = await ctx.makeUser('seller')
  await ctx.signIn(page, u.username, u.password)
  await page.locator('.topnav >> text=数字员工').click()
  const card = page.locator('[data-test=agent-card]', { hasText: '理财顾问' })
  await card.waitFor()
  const section = page.locator('section', { has: card })
  check((await section.locator('.group-title').innerText()).includes('个人金融'), 'grouped by domain')
  check(!(await page.locator('[data-test=agent-card]', { hasText: '未发布助手' }).count()), 'drafts are not in the gallery')
  await ctx.shot(page, 'desktop-agents')

  await card.click()
  await page.locator('[data-test=agent-title]', { hasText: '理财顾问' }).waitFor()
  check((await page.locator('[data-test=welcome]').innerText()).includes('我是理财顾问小恒'), 'the opening message')
  const sugg = page.locator('[data-test=suggestions] button')
  check((await sugg.count()) === 2, 'two suggestions')
  await sugg.first().click()
  await page.locator('[data-test=turn-user]', { hasText: '起购金额' }).waitFor()
  const text = await ctx.answer(page)
  check(text.trim().length > 0, 'an answer')
  check((await page.locator('[data-test=answer-error]').count()) === 0, 'no error')
  await ctx.shot(page, 'desktop-agent-chat')

  // Not in the assistant's conversation list; reopened on the next visit.
  await page.goto(ctx.url + '/#/chat')
  await page.locator('[data-test=composer-input]').waitFor()
  await ctx.sleep(300)
  check(!(await page.locator('[data-test=conv-link]', { hasText: '起购金额' }).count()), 'agent chats stay out of the assistant list')
  await page.goto(ctx.url + '/#/agents/' + name)
  await page.locator('[data-test=turn-user]', { hasText: '起购金额' }).waitFor()
}
