/**
 * An error in something the user handed us (a file, a flag, a config field). The CLI prints its message on one
 * line and exits with code 2, without a stack trace.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Formats `file: index 12: field "bbox": message`, the shape every input error takes. */
export function inputError(file: string, message: string, where?: { index?: number; field?: string }): InputError {
  const parts = [file];
  if (where?.index !== undefined) parts.push(`index ${where.index}`);
  if (where?.field !== undefined) parts.push(`field "${where.field}"`);
  return new InputError(`${parts.join(': ')}: ${message}`);
}
