/**
 * Errors of the model runtime come from the one hierarchy every package shares; what is
 * here is only how they cross the worker-thread boundary (structured clone keeps plain
 * data, not classes).
 */
import {
  AppError,
  CanceledError,
  InvalidInputError,
  ModelError,
  ModelPackError,
} from '@glm-image/shared/errors';

export { AppError, CanceledError, InvalidInputError, ModelError, ModelPackError };

/** The structured-clone form of an error, so that it can cross a worker-thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  file?: string;
  field?: string;
  problem?: string;
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
      problem: error.problem,
      stack: error.stack,
    };
  }
  if (error instanceof AppError) {
    return { name: error.name, message: error.message, code: error.code, stack: error.stack };
  }
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

/**
 * Rebuilds the named error class from its serialized form. Anything that is not one of
 * ours becomes a ModelError: to a caller, an unexpected failure inside the model thread
 * is a model failure.
 */
export function deserializeError(data: SerializedError): AppError {
  let error: AppError;
  switch (data.code) {
    case 'model_pack_invalid': {
      // The message already carries "file: field: " — rebuild without repeating it.
      error = new ModelPackError(data.file ?? '', data.field ?? '', '');
      error.message = data.message;
      break;
    }
    case 'invalid_input':
      error = new InvalidInputError(data.field ?? 'input', data.problem ?? data.message);
      break;
    case 'canceled':
      error = new CanceledError(data.message);
      break;
    default:
      error = new ModelError(data.code === 'model_error' ? data.message : `${data.name}: ${data.message}`);
  }
  if (data.stack) error.stack = `${error.stack ?? ''}\n    --- in the model thread ---\n${data.stack}`;
  return error;
}
