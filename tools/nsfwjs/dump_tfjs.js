const fs = require('fs');
const dir = process.argv[2];
const model = require(dir + '/model.min.js');
fs.writeFileSync('model.json', JSON.stringify(model));
const paths = model.weightsManifest[0].paths;
const bufs = paths.map((p) => {
  const mod = require(dir + '/' + p.replace(/\.bin$/, '') + (p.endsWith('.min.js') ? '' : '.min.js'));
  return Buffer.from(typeof mod === 'string' ? mod : mod.default || mod, 'base64');
});
fs.writeFileSync('weights.bin', Buffer.concat(bufs));
console.log(paths, bufs.map((b) => b.length));
