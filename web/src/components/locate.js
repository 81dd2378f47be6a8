// Finding a cited passage in its document's text.

// Where needle sits in hay, ignoring whitespace and Markdown marks:
// [start, end) in hay, or null.
export function locate(hay, needle) {
  if (!hay || !needle) return null
  const exact = hay.indexOf(needle)
  if (exact >= 0) return [exact, exact + needle.length]
  const skip = /[\s#*_>`|-]/
  const idx = []
  let flat = ''
  for (let i = 0; i < hay.length; i++) {
    if (!skip.test(hay[i])) {
      flat += hay[i]
      idx.push(i)
    }
  }
  let want = ''
  for (const ch of needle) if (!skip.test(ch)) want += ch
  if (!want) return null
  for (const len of [want.length, 40, 16]) {
    const probe = want.slice(0, Math.min(len, want.length))
    const at = flat.indexOf(probe)
    if (at >= 0) {
      const endFlat = Math.min(at + want.length, flat.length) - 1
      return [idx[at], idx[endFlat] + 1]
    }
  }
  return null
}
