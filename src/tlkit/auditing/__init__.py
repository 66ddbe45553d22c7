"""The data audit: out-of-fold label issues, duplicates, outliers and class overlap.

Modules, one job each: :mod:`~tlkit.auditing.probabilities` (out-of-fold class
probabilities on cached features), :mod:`~tlkit.auditing.findings` (label issues,
outliers, class overlap), :mod:`~tlkit.auditing.duplicates` (exact and near duplicates,
the leakage count), :mod:`~tlkit.auditing.result` (:class:`DataAudit`, its folder),
:mod:`~tlkit.auditing.page` (its HTML page), :mod:`~tlkit.auditing.run` (:func:`audit`).

The package is called ``auditing``, not ``audit``, so that ``tlkit.audit`` is always the
function: importing a sub-package ``tlkit.audit`` would rebind that attribute to the
package.
"""

from tlkit.auditing.duplicates import DUPLICATE_THRESHOLD, count_near_duplicates
from tlkit.auditing.findings import OUTLIER_THRESHOLD
from tlkit.auditing.result import AUDIT_FILES, DataAudit
from tlkit.auditing.run import audit

__all__ = ["AUDIT_FILES", "DUPLICATE_THRESHOLD", "OUTLIER_THRESHOLD", "DataAudit", "audit",
           "count_near_duplicates"]
