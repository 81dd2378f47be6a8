// Markdown for model text: markdown-it with html off (model text can never
// inject markup), links opened safely, table alignment as classes (the CSP
// forbids inline styles), and citation marks "[n]" turned into buttons.
import MarkdownIt from 'markdown-it'

const md = new MarkdownIt({ html: false, linkify: true, breaks: true })

// Only http(s) and mailto links; markdown-it already refuses javascript:.
const okLink = /^(https?:|mailto:)/i
const defaultLink =
  md.renderer.rules.link_open || ((tokens, i, options, env, self) => self.renderToken(tokens, i, options))
md.renderer.rules.link_open = (tokens, i, options, env, self) => {
  const t = tokens[i]
  const href = t.attrGet('href') || ''
  if (!okLink.test(href)) t.attrSet('href', '#')
  t.attrSet('target', '_blank')
  t.attrSet('rel', 'noopener noreferrer')
  return defaultLink(tokens, i, options, env, self)
}
md.renderer.rules.image = (tokens, i) => md.utils.escapeHtml(tokens[i].content || '[图片]')

md.core.ruler.push('align_class', (state) => {
  for (const t of state.tokens) {
    const style = t.attrGet && t.attrGet('style')
    if (style) {
      const m = /text-align:(\w+)/.exec(style)
      t.attrs = t.attrs.filter(([k]) => k !== 'style')
      if (m) t.attrJoin('class', 'align-' + m[1])
    }
  }
})

// HTML for model or article text; "[3]" becomes a citation button when
// cites is given (a Set of valid numbers).
export function renderMarkdown(text, cites) {
  let html = md.render(text || '')
  if (cites && cites.size) {
    html = html.replace(/\[(\d{1,3})\]/g, (all, n) =>
      cites.has(Number(n)) ? `<button type="button" class="cite-ref" data-n="${n}">${n}</button>` : all,
    )
  }
  return html
}
