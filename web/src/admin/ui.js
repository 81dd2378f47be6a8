// Small helpers shared by the admin pages: a loader with loading/error
// state, time formatting, the API's errors explained, a notice line.
import { ref, reactive } from 'vue'
import { errorText, ApiError } from '../api.js'

// load = useLoad(async () => …): load.run() sets loading/error/data
// (a reactive object: load.data, load.loading, load.error, no .value).
export function useLoad(fn, initial = null) {
  const data = ref(initial)
  const loading = ref(false)
  const error = ref('')
  let seq = 0
  async function run(...args) {
    const mine = ++seq
    loading.value = true
    error.value = ''
    try {
      const v = await fn(...args)
      if (mine === seq) data.value = v
      return v
    } catch (e) {
      if (mine === seq) error.value = explain(e)
      return undefined
    } finally {
      if (mine === seq) loading.value = false
    }
  }
  return reactive({ data, loading, error, run })
}

// act = useAction(): await act.run(() => post(...), '已保存') shows the
// outcome in act.msg / act.error and returns the result (undefined on error).
export function useAction() {
  const busy = ref(false)
  const msg = ref('')
  const error = ref('')
  async function run(fn, okText = '', context = '') {
    busy.value = true
    msg.value = ''
    error.value = ''
    try {
      const v = await fn()
      msg.value = okText
      return v === undefined || v === null || v === '' ? true : v
    } catch (e) {
      error.value = explain(e, context)
      return undefined
    } finally {
      busy.value = false
    }
  }
  return reactive({ busy, msg, error, run })
}

// The API's message, with a word of explanation for the conflicts an
// administrator meets.
export function explain(e, context = '') {
  let t = errorText(e)
  if (e instanceof ApiError) {
    if (e.status === 409 && context === 'acl')
      t += '。知识库必须至少保留一个管理授权：请先把“管理”级别授予其他对象，再撤销这一条。'
    else if (e.code === 'quality_gate') t = '未通过质量门槛：' + t
    else if (e.status === 409 && context === 'role')
      t += '。三员分立：同一用户不能同时持有审计权限（audit.read）与管理权限。'
    if (e.code && !t.includes(e.code) && e.status >= 400) t += `（${e.code}）`
  }
  return t
}

export function fmtTime(sec) {
  if (!sec) return '—'
  return fmtMs(sec * 1000)
}
export function fmtMs(ms) {
  if (!ms) return '—'
  const d = new Date(ms)
  const p = (n) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}
export const enc = (s) => encodeURIComponent(String(s))

// A flat list of the org tree, depth first: [{id, name, path, names, depth, members}].
export function flattenOrgs(orgs, depth = 0, prefix = '', out = []) {
  for (const o of orgs || []) {
    const names = prefix ? prefix + '/' + o.name : o.name
    out.push({ id: o.id, name: o.name, path: o.path, names, depth, members: o.members || 0 })
    flattenOrgs(o.children, depth + 1, names, out)
  }
  return out
}

export const PERMS = [
  ['users.manage', '用户管理'],
  ['org.manage', '机构与岗位'],
  ['roles.manage', '角色管理'],
  ['kb.create', '新建企业知识库'],
  ['kb.admin', '管理全部企业知识库'],
  ['agents.manage', '数字员工'],
  ['models.manage', '模型与敏感词'],
  ['audit.read', '审计日志（审计员专用）'],
]

export const LEVELS = { read: '只读', write: '读写', admin: '管理' }
export const SUBJECTS = { org: '机构（含下级）', position: '岗位', role: '角色', user: '用户', all: '所有人' }
