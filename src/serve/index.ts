export { startServer, SERVE_DEFAULTS, type ServeOptions, type RunningServer } from './server.ts';
export { HttpError } from './http-error.ts';
export { isLoopbackHost } from './guard.ts';
export { sceneExamples, type Example } from './examples.ts';
