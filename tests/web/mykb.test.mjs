// My personal KB: create it, upload two files at once (one broken), follow
// the ingestion, see the documents, ask the assistant about the upload and
// open its citation, a file uploaded into the conversation and asked
// about, delete a document.
const NOTE = `# 网点排班说明

第一条 浦江路网点周六营业时间为上午九点至下午三点，由理财经理轮流值班。

第二条 节假日值班表由网点主任于每月二十五日前报送分行运营管理部。
`

// An original that is not text: its article view is the document's chunks.
const HTML = `<!doctype html><html><head><meta charset="utf-8"><title>网点安全检查规定</title></head><body>
<h1>网点安全检查规定</h1>
<p>第一条 网点每日开门前，由两名员工共同检查门窗、监控和报警装置。</p>
<p>第二条 营业终了，运钞交接须在监控范围内完成，交接双方当面清点款箱并签字。</p>
<p>第三条 消防器材每月检查一次，检查记录保存三年。</p>
</body></html>`

export default async function (ctx) {
  const { page, check } = ctx
  const u = await ctx.makeUser('clerk')
  await ctx.signIn(page, u.username, u.password)
  await page.goto(ctx.url + '/#/my-kb')
  await page.locator('[data-test=create-my-kb]').click()
  await page.locator('[data-test=dropzone]').waitFor()

  await page.locator('[data-test=my-kb-file]').setInputFiles([
    { name: '网点排班说明.md', mimeType: 'text/markdown', buffer: Buffer.from(NOTE) },
    { name: '损坏的表格.docx', mimeType: 'application/octet-stream', buffer: Buffer.from('PK\u0003\u0004 not really a zip') },
    { name: '网点安全检查规定.html', mimeType: 'text/html', buffer: Buffer.from(HTML) },
  ])
  const rows = page.locator('[data-test=upload-row]')
  await ctx.waitFor(async () => (await rows.count()) === 3, 'three upload rows')
  await ctx.waitFor(async () => {
    const t = await page.locator('[data-test=uploads]').innerText()
    return t.includes('已完成') && t.includes('失败') ? t : null
  }, 'both jobs to end')
  const broken = await rows.filter({ hasText: '损坏的表格' }).innerText()
  check(broken.includes('失败') && /DOCX|损坏/.test(broken), 'the broken file says why: ' + broken)
  const list = page.locator('[data-test=doc-list]')
  await list.waitFor()
  check((await list.innerText()).includes('网点排班说明'), 'the document is listed')
  await ctx.shot(page, 'desktop-my-kb')

  // The article view from the list.
  await list.locator('a', { hasText: '网点排班说明' }).click()
  const art = await page.locator('[data-test=article-text]').innerText()
  check(art.includes('浦江路网点周六营业时间'), 'article text')

  // The HTML original is shown as its text, article by article.
  await page.goto(ctx.url + '/#/my-kb')
  await list.locator('a', { hasText: '网点安全检查规定' }).click()
  const html = await page.locator('[data-test=article-text]').innerText()
  check(html.includes('第二条 营业终了') && html.includes('第三条 消防器材'), 'HTML article text: ' + html)

  // Ask about it: the answer cites my document.
  await page.locator('.topnav >> text=智能助手').click()
  await page.locator('[data-test=composer-input]').waitFor()
  await ctx.ask(page, '浦江路网点周六几点营业？')
  const chip = page.locator('[data-test=citation-chip]', { hasText: '网点排班说明' }).first()
  await chip.waitFor()
  await chip.click()
  const mark = page.locator('[data-test=citation-sheet] [data-test=article-mark]')
  await mark.waitFor()
  check((await mark.innerText()).includes('周六营业时间'), 'the cited passage is marked: ' + (await mark.innerText()))
  await page.locator('[data-test=citation-close]').click()

  // A citation of the HTML original opens its text with the passage marked.
  await ctx.ask(page, '运钞交接要在哪里完成？')
  const chipHtml = page.locator('[data-test=citation-chip]', { hasText: '网点安全检查规定' }).first()
  await chipHtml.waitFor()
  await chipHtml.click()
  await mark.waitFor()
  check((await mark.innerText()).includes('运钞交接'), 'the HTML passage is marked: ' + (await mark.innerText()))
  const sheet = await page.locator('[data-test=citation-sheet] [data-test=article-text]').innerText()
  check(sheet.includes('第一条 网点每日开门前'), 'the whole HTML article is shown around the mark')
  await page.locator('[data-test=citation-close]').click()

  // A file uploaded into this conversation: parsed, then asked about.
  await page.locator('[data-test=conv-file-input]').setInputFiles({
    name: '晨会纪要.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('晨会纪要\n\n自下周一起，现金轧账时间调整为下午四点半，由运营主管复核。\n'),
  })
  const chipFile = page.locator('[data-test=conv-files] span', { hasText: '晨会纪要' })
  await ctx.waitFor(async () => (await chipFile.innerText()).includes('已解析'), 'the conversation file parsed')
  await ctx.ask(page, '现金轧账时间调整为几点？')
  await page.locator('[data-test=citation-chip]', { hasText: '晨会纪要' }).first().waitFor()

  // Delete it: the list is empty again.
  await page.goto(ctx.url + '/#/my-kb')
  await page.locator('[data-test=doc-list]').waitFor()
  check((await page.locator('[data-test=doc-delete]').count()) === 2, 'the two parsed documents are listed')
  for (let left = await page.locator('[data-test=doc-delete]').count(); left > 0; left--) {
    page.once('dialog', (d) => d.accept())
    await page.locator('[data-test=doc-delete]').first().click()
    await ctx.waitFor(async () => (await page.locator('[data-test=doc-delete]').count()) < left, 'a document deleted')
  }
  await page.locator('text=还没有文档').waitFor()
}
