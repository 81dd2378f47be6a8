// Sign in (a wrong password first), ask the assistant with the fake model
// on, open a citation and see the source article with the passage marked;
// 👍, a thinking answer, the extractive notice when the model is down,
// sign-out, and an expired session back to sign-in with next=. Desktop screenshots.
const MANUAL = `# 恒远银行账户业务手册

## 第一章 开户

第一条 个人客户开立个人银行结算账户，应当出具本人有效身份证件，并签署开户申请书。

第二条 单位客户开立单位银行结算账户，应当出具营业执照、法定代表人身份证件和印鉴卡。

## 第二章 挂失

第三条 存单遗失的，存款人应当持本人有效身份证件到开户网点办理挂失止付，挂失止付的有效期为七日。
`

export default async function (ctx) {
  const { page, check } = ctx
  await ctx.makeKb('柜面手册', [{ name: '账户业务手册.md', text: MANUAL }])
  const u = await ctx.makeUser('teller', { displayName: '王柜员' })

  // Signed out: any page goes to sign-in with next=.
  await page.goto(ctx.url + '/#/kbs')
  await page.locator('#login-user').waitFor()
  check(page.url().includes('next='), 'next= kept: ' + page.url())

  // A wrong password is told as such (the browser logs the 401).
  ctx.allowConsole(/status of 401/, /\/api\/v1\/auth\/login$/)
  await page.locator('#login-user').fill(u.username)
  await page.locator('#login-pass').fill('Wrong#2026-Pass')
  await page.locator('[data-test=login-submit]').click()
  const err = await page.locator('[data-test=login-error]').innerText()
  check(err.includes('用户名或密码错误'), 'wrong password message: ' + err)
  await ctx.shot(page, 'desktop-login-error')

  // The right one lands on the page asked for.
  await page.locator('#login-pass').fill(u.password)
  await page.locator('[data-test=login-submit]').click()
  await page.locator('[data-test=kb-card]').first().waitFor()
  check(await page.locator('[data-test=kb-card]', { hasText: '柜面手册' }).isVisible(), 'the KB is listed')
  check((await page.locator('.user-name').innerText()).includes('王柜员'), 'user menu shows the name')
  check((await page.locator('.topnav').innerText()).includes('智能助手'), 'nav')
  check(!(await page.locator('.topnav').innerText()).includes('管理'), 'no admin entry for a teller')

  // Ask: the model's streamed answer with a numbered citation.
  await page.locator('.topnav >> text=智能助手').click()
  await page.locator('[data-test=composer-input]').waitFor()
  const text = await ctx.ask(page, '单位客户开户需要什么材料？')
  check(text.startsWith('根据资料'), 'model answer: ' + text)
  await ctx.waitFor(async () => /\/chat\/\d+$/.test(page.url()), 'the conversation in the URL')
  const chip = page.locator('[data-test=citation-chip]').first()
  await chip.waitFor()
  check((await chip.innerText()).includes('账户业务手册') || (await chip.innerText()).includes('恒远银行'), 'chip label: ' + (await chip.innerText()))
  check((await page.locator('.cite-ref').count()) > 0, 'inline [n] marks are buttons')
  check((await page.locator('.conv-link').first().innerText()).includes('单位客户开户'), 'the conversation is listed with its title')
  await ctx.shot(page, 'desktop-chat')

  // Open the citation: the article, the passage marked and scrolled to.
  await chip.click()
  const sheet = page.locator('[data-test=citation-sheet]')
  await sheet.waitFor()
  const mark = sheet.locator('[data-test=article-mark]')
  await mark.waitFor()
  const marked = await mark.innerText()
  check(/第[一二三]条/.test(marked), 'marked passage: ' + marked)
  const whole = await sheet.locator('[data-test=article-text]').innerText()
  check(whole.includes('第一章 开户') && whole.includes('挂失止付'), 'the whole article is shown')
  check(whole.length > marked.length + 20, 'more than the passage')
  check(await mark.isVisible(), 'the mark is in view')
  check((await sheet.locator('[data-test=article-title]').innerText()).includes('恒远银行账户业务手册'), 'article title')
  await ctx.shot(page, 'desktop-citation')
  await page.keyboard.press('Escape')
  await sheet.waitFor({ state: 'detached' })

  // 👍 is recorded.
  await page.locator('[data-test=thumb-up]').last().click()
  await page.locator('text=已收到反馈').waitFor()

  // Thinking models: the thinking is there, folded.
  await ctx.fake.control({ mode: 'thinking' })
  try {
    await ctx.ask(page, '存单遗失怎么办？')
    const th = page.locator('[data-test=thinking]').last()
    await th.waitFor()
    check(!(await th.evaluate((d) => d.open)), 'thinking folded')
    await th.locator('summary').click()
    check(await th.evaluate((d) => d.open), 'thinking opens')
  } finally {
    await ctx.fake.control({ mode: 'ok' })
  }

  // The model down: the extractive answer and its notice, not an error.
  await ctx.fake.control({ mode: 'fail' })
  try {
    const t = await ctx.ask(page, '挂失止付的有效期是多久？')
    check(t.includes('七日'), 'extractive answer: ' + t)
    const notice = await page.locator('[data-test=answer-notice]').last().innerText()
    check(notice.includes('模型'), 'notice: ' + notice)
    check((await page.locator('[data-test=answer-error]').count()) === 0, 'no error shown')
  } finally {
    await ctx.fake.control({ mode: 'ok' })
  }

  // Reload keeps the conversation; sign-out ends the session.
  await page.reload()
  await page.locator('[data-test=turn-user]').first().waitFor()
  check((await page.locator('[data-test=turn-user]').count()) === 3, 'three questions after reload')
  await page.locator('[data-test=user-menu]').click()
  await page.locator('[data-test=sign-out]').click()
  await page.locator('#login-user').waitFor()
  const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status)
  check(me === 401, 'signed out: ' + me)

  // A session that ends (here: its cookie gone) sends the next call's page
  // back to sign-in, saying so and keeping where the user was.
  await ctx.signIn(page, u.username, u.password)
  await page.locator('[data-test=composer-input]').waitFor()
  ctx.allowConsole(/status of 401/, /\/api\/v1\/kbs$/)
  await page.context().clearCookies()
  await page.locator('.topnav >> text=知识库').click()
  await page.locator('[data-test=login-expired]').waitFor()
  check(decodeURIComponent(page.url()).includes('next=/kbs'), 'next= after expiry: ' + page.url())
  await page.locator('#login-user').fill(u.username)
  await page.locator('#login-pass').fill(u.password)
  await page.locator('[data-test=login-submit]').click()
  await page.locator('[data-test=kb-card]').first().waitFor()
}
