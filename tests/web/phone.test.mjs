// The phone layout at 390×844: no sideways scrolling, the composer in view,
// the menu drawer (Esc closes it), citations in a bottom sheet, KB browsing.
// Phone screenshots.
const RULES = `# 现金管理规定

第一条 柜员日终应当将尾箱现金全部入库，不得带出营业场所。

第二条 大额现金支取五万元以上的，应当提前一个营业日预约。
`

export default async function (ctx) {
  const { check } = ctx
  await ctx.makeKb('现金制度', [{ name: '现金管理规定.md', text: RULES }])
  const u = await ctx.makeUser('mobile')
  const page = await ctx.newPage({ viewport: ctx.PHONE, mobile: true, label: 'phone' })
  await page.goto(ctx.url + '/#/login')
  await page.locator('#login-user').waitFor()
  check(!(await ctx.horizontalScroll(page)), 'sign-in scrolls sideways')
  await ctx.shot(page, 'phone-login')
  await ctx.signIn(page, u.username, u.password)

  // The chat: compact bar, composer visible, nothing wider than the screen.
  await page.locator('[data-test=composer-input]').waitFor()
  check(!(await page.locator('.topnav').isVisible()), 'the desktop nav is hidden')
  const box = await page.locator('[data-test=composer]').boundingBox()
  check(box && box.y >= 0 && box.y + box.height <= ctx.PHONE.height + 1, 'composer in view: ' + JSON.stringify(box))
  check(box.width <= ctx.PHONE.width, 'composer fits')
  await ctx.ask(page, '大额现金支取要提前预约吗？')
  check(!(await ctx.horizontalScroll(page)), 'chat scrolls sideways')
  const box2 = await page.locator('[data-test=composer]').boundingBox()
  check(box2.y + box2.height <= ctx.PHONE.height + 1, 'composer still in view after an answer')
  await ctx.shot(page, 'phone-chat')

  // A citation opens as a bottom sheet, full width, with the mark.
  await page.locator('[data-test=citation-chip]').first().click()
  const sheet = page.locator('[data-test=citation-sheet]')
  await sheet.locator('[data-test=article-mark]').waitFor()
  const sb = await sheet.boundingBox()
  check(Math.abs(sb.width - ctx.PHONE.width) <= 1 && Math.abs(sb.y + sb.height - ctx.PHONE.height) <= 1 && sb.y > 50,
    'a bottom sheet: ' + JSON.stringify(sb))
  check(await sheet.locator('[data-test=article-mark]').isVisible(), 'the mark is in view')
  check(!(await ctx.horizontalScroll(page)), 'sheet scrolls sideways')
  await ctx.shot(page, 'phone-citation')
  await page.keyboard.press('Escape')
  await sheet.waitFor({ state: 'detached' })

  // The conversation list is a drawer.
  await page.locator('[data-test=open-conv-list]').click()
  await page.locator('.conv-list.open [data-test=conv-link]').first().waitFor()
  await page.keyboard.press('Escape')
  await page.locator('.conv-list.open').waitFor({ state: 'detached' })

  // The menu drawer: open, Esc closes, navigate to the KBs.
  await page.locator('[data-test=menu-button]').click()
  const drawer = page.locator('.drawer')
  await drawer.waitFor()
  await page.keyboard.press('Escape')
  await drawer.waitFor({ state: 'detached' })
  await page.locator('[data-test=menu-button]').click()
  await drawer.getByRole('link', { name: '知识库', exact: true }).click()
  await page.locator('[data-test=kb-card]').first().waitFor()
  check(!(await ctx.horizontalScroll(page)), 'KB list scrolls sideways')
  await ctx.shot(page, 'phone-kbs')
  await page.locator('[data-test=kb-card]', { hasText: '现金制度' }).click()
  await page.locator('[data-test=doc-list]').waitFor()
  check(!(await ctx.horizontalScroll(page)), 'KB page scrolls sideways')
  await page.locator('[data-test=doc-list] a').first().click()
  await page.locator('[data-test=article-text]').waitFor()
  check((await page.locator('[data-test=article-text]').innerText()).includes('尾箱现金'), 'article on a phone')
  check(!(await ctx.horizontalScroll(page)), 'article scrolls sideways')
  await ctx.shot(page, 'phone-article')
}
