/**
 * Errors of the model runtime. Each carries a stable `code` that callers (the workers,
 * the API) map to job outcomes; messages are for people and may change.
 */
export type InferenceErrorCode = 'model_pack_invalid' | 'invalid_input' | 'canceled' | 'model_error';

export class InferenceError extends Error {
  constructor(
    readonly code: InferenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InferenceError';
  }
}

/** The model pack on disk is unusable. `file` is the pack file at fault, `field` the manifest field or graph property. */
export class ModelPackError extends InferenceError {
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('model_pack_invalid', `${file}: ${field}: ${message}`, options);
    this.name = 'ModelPackError';
  }
}

/** A request the pack cannot serve (size, parameters); `field` names the offending request field. */
export class InvalidInputError extends InferenceError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('invalid_input', `${field}: ${message}`);
    this.name = 'InvalidInputError';
  }
}

/** The caller's AbortSignal fired; the model loop stopped between steps. */
export class InferenceCanceledError extends InferenceError {
  constructor(message = 'inference was canceled') {
    super('canceled', message);
    this.name = 'InferenceCanceledError';
  }
}

/** The model failed or produced output the runtime cannot use. */
export class ModelRuntimeError extends InferenceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('model_error', message, options);
    this.name = 'ModelRuntimeError';
  }
}

/** The structured-clone form of an error, so that it can cross a worker-thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  file?: string;
  field?: string;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof ModelPackError) {
    return {
      name: error.name,
      message: error.message,
      code: error.code,
      file: error.file,
      field: error.field,
      stack: error.stack,
    };
  }
  if (error instanceof InvalidInputError) {
    return {
      name: error.name,
      message: error.message,
      code: error.code,
      field: error.field,
      stack: error.stack,
    };
  }
  if (error instanceof InferenceError) {
    return { name: error.name, message: error.message, code: error.code, stack: error.stack };
  }
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

/**
 * Rebuilds the named error class from its serialized form. Anything that is not one of
 * ours becomes a ModelRuntimeError: to a caller, an unexpected failure inside the model
 * thread is a model failure.
 */
export function deserializeError(data: SerializedError): InferenceError {
  let error: InferenceError;
  switch (data.code) {
    case 'model_pack_invalid': {
      // The message already carries "file: field: " — rebuild without repeating it.
      error = new ModelPackError(data.file ?? '', data.field ?? '', '');
      error.message = data.message;
      break;
    }
    case 'invalid_input': {
      error = new InvalidInputError(data.field ?? '', '');
      error.message = data.message;
      break;
    }
    case 'canceled':
      error = new InferenceCanceledError(data.message);
      break;
    default:
      error = new ModelRuntimeError(
        data.code === 'model_error' ? data.message : `${data.name}: ${data.message}`,
      );
  }
  if (data.stack) error.stack = `${error.stack ?? ''}\n    --- in the model thread ---\n${data.stack}`;
  return error;
}
