// Runs unit tests (test/unit) before the integration tests, each group in name order.
const Sequencer = require('@jest/test-sequencer').default;

class UnitFirst extends Sequencer {
  sort(tests) {
    const rank = (t) => (t.path.includes('/unit/') ? 0 : 1);
    return [...tests].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
  }
}
module.exports = UnitFirst;
