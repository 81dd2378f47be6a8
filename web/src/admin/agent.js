// Words and helpers for the digital-employee pages.
export const STATUS = { draft: '草稿', published: '已发布', retired: '已停用' }
export const STATUS_TAG = { draft: 'amber', published: 'green', retired: '' }
export const RUN_STATUS = { queued: '排队中', running: '运行中', done: '已完成', finished: '已完成', failed: '失败', cancelled: '已取消', canceled: '已取消' }
export const BUILTIN_TOOLS = [
  ['kb_search', '知识库检索'],
  ['calculator', '计算器'],
  ['workdays', '工作日计算'],
  ['web_search', '联网搜索'],
]
// A run's score (0..1) as a percentage text.
export const pct = (v) => (typeof v === 'number' ? (v * 100).toFixed(1) + '%' : '—')
// Whether a run is over.
export const runOver = (r) => r && ['done', 'finished', 'failed', 'cancelled', 'canceled'].includes(r.status)
