import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { supervisorLogLine } from '../../shared/workflow/orderQueueServices';

describe('the supervisor log line', () => {
  it('says nothing for a pass that changed nothing, and names what it re-drove and gave up on', () => {
    assert.equal(supervisorLogLine({ examined: 12, redriven: [], gaveUp: [] }), undefined);
    assert.equal(
      supervisorLogLine({ examined: 3, redriven: ['ord_a', 'ord_b'], gaveUp: [] }),
      'supervisor: 3 in flight, re-drove ord_a, ord_b, gave up on none',
    );
    assert.equal(
      supervisorLogLine({ examined: 1, redriven: [], gaveUp: ['ord_c'] }),
      'supervisor: 1 in flight, re-drove none, gave up on ord_c',
    );
  });
});
