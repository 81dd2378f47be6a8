// Vite builds the portal into web/dist, which `atrium serve` serves (config
// key web_dir). In development, `npm run dev` proxies the API to a running
// atrium on ATRIUM_URL (default http://127.0.0.1:8080).
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const target = process.env.ATRIUM_URL || 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: { '/api': target, '/v1': target, '/healthz': target },
  },
})
