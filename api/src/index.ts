export * from './trainer-contract.ts';
