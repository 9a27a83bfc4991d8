// nsfwjs through TF.js (pure-JS CPU backend): the reference scores for tools/nsfwjs_onnx_parity.py.
//
// Reads back-to-back SIZE x SIZE x 3 uint8 RGB images on stdin; writes one JSON array of the five
// class probabilities (Drawing, Hentai, Neutral, Porn, Sexy) per image, one per line.
// Run it from a directory where `npm install nsfwjs@4 @tensorflow/tfjs@4` was done:
//   cd NPM_DIR && node /path/to/tools/nsfwjs_score.cjs InceptionV3 299 < images.rgb
'use strict';
// Resolve the packages from the working directory (the npm install), not from tools/.
const fromCwd = (pkg) => require(require.resolve(pkg, { paths: [process.cwd()] }));
const tf = fromCwd('@tensorflow/tfjs');
const nsfwjs = fromCwd('nsfwjs');

const [name, sizeArg] = process.argv.slice(2);
const size = Number(sizeArg);
(async () => {
  await tf.setBackend('cpu');
  const model = await nsfwjs.load(name, { size, type: name === 'InceptionV3' ? 'layers' : undefined });
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const buf = Buffer.concat(chunks);
  const n = size * size * 3;
  for (let off = 0; off + n <= buf.length; off += n) {
    const t = tf.tensor3d(new Uint8Array(buf.buffer, buf.byteOffset + off, n), [size, size, 3], 'int32');
    const out = model.infer(t);
    const p = Array.from(await out.data());
    out.dispose();
    t.dispose();
    process.stdout.write(JSON.stringify(p) + '\n');
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
