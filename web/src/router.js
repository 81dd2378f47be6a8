// The portal's pages. User pages live in views/, admin pages in admin/
// (admin/routes.js). Every page but sign-in needs a session; admin pages
// also need the permission named in their meta.perm.
import { createRouter, createWebHashHistory } from 'vue-router'
import { session, loadMe, can } from './api.js'
import adminRoutes from './admin/routes.js'

const routes = [
  { path: '/', redirect: '/chat' },
  { path: '/login', component: () => import('./views/Login.vue'), meta: { public: true, title: '登录' } },
  { path: '/chat/:id?', component: () => import('./views/Chat.vue'), meta: { title: '智能助手' } },
  { path: '/kbs', component: () => import('./views/KnowledgeList.vue'), meta: { title: '知识库' } },
  { path: '/kbs/:kb', component: () => import('./views/KnowledgeBase.vue'), meta: { title: '知识库' } },
  {
    path: '/kbs/:kb/docs/:doc',
    component: () => import('./views/Article.vue'),
    meta: { title: '原文' },
  },
  { path: '/my-kb', component: () => import('./views/MyKb.vue'), meta: { title: '我的知识库' } },
  { path: '/agents', component: () => import('./views/AgentGallery.vue'), meta: { title: '数字员工' } },
  { path: '/agents/:name', component: () => import('./views/AgentChat.vue'), meta: { title: '数字员工' } },
  ...adminRoutes,
  { path: '/:rest(.*)*', component: () => import('./views/NotFound.vue'), meta: { title: '页面不存在' } },
]

export const router = createRouter({ history: createWebHashHistory(), routes })

router.beforeEach(async (to) => {
  if (!session.loaded) {
    try {
      await loadMe()
    } catch (_) {
      /* the page shows the error state */
    }
  }
  if (to.meta.public) return true
  if (!session.user) return { path: '/login', query: { next: to.fullPath } }
  if (to.meta.perm && !can(to.meta.perm)) return { path: '/chat' }
  return true
})

router.afterEach((to) => {
  document.title = (to.meta.title ? to.meta.title + ' · ' : '') + 'Atrium 智能门户'
})
