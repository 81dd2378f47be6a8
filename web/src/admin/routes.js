// Admin pages: each names the permission it needs (meta.perm); the menu in
// App.vue shows only what the user may open.
export default []
