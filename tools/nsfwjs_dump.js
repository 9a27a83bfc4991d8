// Dump nsfwjs's bundled TF.js layers model (InceptionV3) as model.json + weights.bin.
//
// The npm package ships each weight shard as a base64 string inside a .min.js module; this writes
// the plain TF.js format that tools/nsfwjs_to_onnx.py reads.
//
// Usage (after `npm install nsfwjs@4 @tensorflow/tfjs@4` in NPM_DIR):
//   node tools/nsfwjs_dump.js NPM_DIR/node_modules/nsfwjs/dist/models/inception_v3 OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');

const [modelDir, outDir] = process.argv.slice(2);
if (!modelDir || !outDir) {
  console.error('usage: node nsfwjs_dump.js MODEL_DIR OUT_DIR');
  process.exit(2);
}
const dir = path.resolve(modelDir);
fs.mkdirSync(outDir, { recursive: true });
const model = require(path.join(dir, 'model.min.js'));
fs.writeFileSync(path.join(outDir, 'model.json'), JSON.stringify(model));
const paths = model.weightsManifest[0].paths;
const bufs = paths.map((p) => {
  const mod = require(path.join(dir, p.replace(/\.bin$/, '') + (p.endsWith('.min.js') ? '' : '.min.js')));
  return Buffer.from(typeof mod === 'string' ? mod : mod.default || mod, 'base64');
});
fs.writeFileSync(path.join(outDir, 'weights.bin'), Buffer.concat(bufs));
console.log(paths, bufs.map((b) => b.length));
