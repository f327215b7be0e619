/**
 * `npm ci` runs this after installing (package.json `postinstall`): it compiles hnswlib-node's own source again for the
 * x86-64-v3 (AVX2) and x86-64-v4 (AVX-512) levels, so that the store can load the fastest build the CPU runs
 * (src/rag/store/hnswlib.ts). It never fails the install: whatever cannot be built is reported and the package's own
 * build is used.
 */
import { buildSimdVariants } from '../src/rag/store/hnswlib-build.js';

try {
  const summary = await buildSimdVariants({
    env: process.env,
    log: (line) => console.log(`verbatim: ${line}`),
  });
  console.log(`verbatim: ${summary}`);
} catch (err) {
  console.log(
    `verbatim: hnswlib SIMD builds skipped (${(err as Error).message}); the portable build will be used`,
  );
}
