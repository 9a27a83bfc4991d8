const tf = require('@tensorflow/tfjs');
const nsfwjs = require('nsfwjs');
const [name, sizeS] = process.argv.slice(2); const size = +sizeS;
(async () => {
  await tf.setBackend('cpu');
  const m = await nsfwjs.load(name, {size, type: name==='InceptionV3'?'layers':undefined});
  const chunks=[]; for await (const c of process.stdin) chunks.push(c);
  const buf = Buffer.concat(chunks); const n = size*size*3;
  for (let off=0; off+n<=buf.length; off+=n) {
    const t = tf.tensor3d(new Uint8Array(buf.buffer, buf.byteOffset+off, n), [size,size,3], 'int32');
    const out = m.infer(t); const p = Array.from(await out.data()); out.dispose(); t.dispose();
    process.stdout.write(JSON.stringify(p)+'\n');
  }
})().catch(e=>{console.error(e); process.exit(1);});
