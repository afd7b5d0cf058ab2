// A process that uploads one file to S3 (storage tests SIGKILL it mid-upload): <bucket> <key> <file>.
import { storageConfigFromEnv } from '../../src/storage/config.ts';
import { s3Client, uploadS3File } from '../../src/storage/s3.ts';

const [bucket = '', key = '', file = ''] = process.argv.slice(2);
await uploadS3File(s3Client(storageConfigFromEnv()), bucket, key, file, `s3://${bucket}/${key}`);
