import { describe, expect, it } from 'vitest';
import { oneLineError } from '../../src/cli/exit.js';
import { EnvironmentError, environmentError } from '../../src/util/env-errors.js';
import { InputError } from '../../src/util/errors.js';

const errno = (code: string, syscall: string, path: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: x, ${syscall} '${path}'`), { code, syscall, path });

describe('environment errors', () => {
  it('turns the errors of a bad environment into one line naming the path and the cause', () => {
    expect(environmentError(errno('ENOSPC', 'write', '/w/metrics.jsonl'))?.message).toBe('cannot write /w/metrics.jsonl: no space left on device');
    expect(environmentError(errno('EROFS', 'mkdir', '/ro/run'))?.message).toBe('cannot write /ro/run: read-only file system');
    expect(environmentError(errno('EACCES', 'open', '/data/img.jpg'))?.message).toBe('cannot open /data/img.jpg: permission denied');
    expect(environmentError(errno('EMFILE', 'scandir', '/data'))?.message).toBe('cannot read /data: too many open files');
    expect(environmentError(errno('EDQUOT', 'write', 'x'), '/w/checkpoints/model_0000002', 'write')).toMatchObject({
      code: 'EDQUOT',
      path: '/w/checkpoints/model_0000002',
      message: 'cannot write /w/checkpoints/model_0000002: disk quota exceeded',
    });
    // not the environment: a missing file is the caller's input, a bug is a bug
    expect(environmentError(errno('ENOENT', 'open', '/nope'))).toBeNull();
    expect(environmentError(new TypeError('x'))).toBeNull();
  });

  it('the CLI line: bad input and a bad environment give one line, anything else none (a bug, with its stack)', () => {
    expect(oneLineError(new InputError('a.json: field "x" must be positive\nmore'))).toBe('a.json: field "x" must be positive');
    expect(oneLineError(errno('ENOSPC', 'write', '/w/log.txt'))).toBe('cannot write /w/log.txt: no space left on device');
    expect(oneLineError(new EnvironmentError('cannot write work dir /ro: read-only file system', 'EROFS', '/ro'))).toBe('cannot write work dir /ro: read-only file system');
    expect(oneLineError(new RangeError('bug'))).toBeNull();
  });
});
