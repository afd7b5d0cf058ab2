export * from './defaults.ts';
export * from './targets.ts';
export * from './trainer-contract.ts';
export * from './types.ts';
export * from './uri.ts';
export * from './validate.ts';
