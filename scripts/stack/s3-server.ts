/** An S3-protocol server (s3rver) as its own process, for the local stack. */
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import S3rver from 's3rver';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9000' },
    dir: { type: 'string', default: '.local/s3' },
    bucket: { type: 'string', default: 'generations' },
  },
});
await mkdir(values.dir!, { recursive: true });
const server = new S3rver({
  port: Number(values.port),
  address: '127.0.0.1',
  directory: values.dir!,
  silent: true,
  configureBuckets: [{ name: values.bucket! }],
});
await server.run();
console.log(`s3 server listening on http://127.0.0.1:${values.port} (bucket ${values.bucket})`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
