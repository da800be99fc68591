// Runs unit tests (test/unit) before the integration tests, and the Kubernetes ones (k8s-*, which start the
// local plane: test/helpers/k8s.ts) last, each group in name order.
const Sequencer = require('@jest/test-sequencer').default;

class UnitFirst extends Sequencer {
  sort(tests) {
    const rank = (t) => (t.path.includes('/unit/') ? 0 : t.path.includes('/integration/k8s-') ? 2 : 1);
    return [...tests].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
  }
}
module.exports = UnitFirst;
