// CEL rules generated from the schema itself, so that they follow every field added later.
import type { TObject } from '@sinclair/typebox';
import type { CelRule } from './k8s.ts';

/**
 * A root-level transition rule: once a phase has been started (`status.attempts` is recorded, and stays recorded
 * through suspensions, unlike `status.startTime`) or the resource has finished, every spec field except `mutable`
 * keeps its value. Root level, because only there can a rule see both the spec and the status. The rule runs on every
 * status write too (the root changed): comparing the whole spec first answers those at the cost of one comparison,
 * where the field-by-field checks cost about a third of the API server's CPU for a status write.
 */
const STARTED =
  "has(oldSelf.status.attempts) || (has(oldSelf.status.phase) && oldSelf.status.phase in ['Succeeded', 'Failed'])";

export function specImmutableOnceStarted(spec: TObject, mutable: readonly string[], kind: string): CelRule {
  const required = new Set(spec.required ?? []);
  const unchanged = Object.keys(spec.properties)
    .filter((f) => !mutable.includes(f))
    .map((f) =>
      required.has(f)
        ? `self.spec.${f} == oldSelf.spec.${f}`
        : `(has(self.spec.${f}) ? has(oldSelf.spec.${f}) && self.spec.${f} == oldSelf.spec.${f} : !has(oldSelf.spec.${f}))`,
    );
  return {
    rule: `self.spec == oldSelf.spec || !has(oldSelf.status) || !(${STARTED}) || (${unchanged.join(' && ')})`,
    message:
      `spec is immutable once the ${kind} has started a phase or finished; only ` +
      `${mutable.map((m) => `spec.${m}`).join(', ')} may change. Create a new ${kind} instead`,
    reason: 'FieldValueForbidden',
  };
}
