// Helpers shared by the admin browser tests (admin-*.test.mjs).

// Opens an admin route and waits for its heading (hash routes keep the page).
export async function openAdmin(ctx, page, route, title) {
  await page.goto(ctx.url + '/#' + route)
  if (title) await page.locator('section.adm h1', { hasText: title }).first().waitFor()
  await page.waitForLoadState('networkidle')
}

// A page that accepts confirm() dialogs (deletes, revokes ask first).
export async function adminPage(ctx, opts = {}) {
  const page = opts.page || (await ctx.newPage(opts))
  page.on('dialog', (d) => d.accept())
  return page
}

// The CSRF-free API as another user: a token of theirs.
export const asUser = (ctx, u) => (method, p, body) => ctx.api(method, p, body, { token: u.token })
