// Admin pages: each names the permission it needs (meta.perm); menus show
// only what the user may open. meta.menu is the menu group (组织与人员 /
// 知识库 / 模型 / 数字员工 / 审计日志 / 使用分析); routes without meta.menu
// (detail pages) are reached from their list page, not a menu. They render
// inside AdminLayout.vue (the admin menu bar); `adminPages` is the flat list.
const r = (path, load, title, perm, menu) => ({
  path,
  component: load,
  meta: menu ? { title, perm, menu, admin: true } : { title, perm, admin: true },
})

export const adminPages = [
  r('/admin', () => import('./AdminHome.vue'), '管理后台', null, null),
  r('/admin/orgs', () => import('./Orgs.vue'), '机构与成员', 'org.manage', '组织与人员'),
  r('/admin/users', () => import('./Users.vue'), '用户', 'users.manage', '组织与人员'),
  r('/admin/positions', () => import('./Positions.vue'), '岗位', 'org.manage', '组织与人员'),
  r('/admin/roles', () => import('./Roles.vue'), '角色', 'roles.manage', '组织与人员'),
  r('/admin/kbs', () => import('./KbList.vue'), '知识库管理', 'kb.admin', '知识库'),
  r('/admin/kbs/:kb/:tab?', () => import('./KbDetail.vue'), '知识库管理', 'kb.admin', null),
  r('/admin/models', () => import('./Models.vue'), '模型登记', 'models.manage', '模型'),
  r('/admin/sensitive-words', () => import('./SensitiveWords.vue'), '敏感词', 'models.manage', '模型'),
  r('/admin/agents', () => import('./Agents.vue'), '数字员工管理', 'agents.manage', '数字员工'),
  r('/admin/agents/:name/:tab?', () => import('./AgentDetail.vue'), '数字员工', 'agents.manage', null),
  r('/admin/audit', () => import('./Audit.vue'), '审计日志', 'audit.read', '审计日志'),
  r('/admin/analytics', () => import('./Analytics.vue'), '使用分析', 'agents.manage', '使用分析'),
]

export default [{ path: '/admin', component: () => import('./AdminLayout.vue'), children: adminPages }]
