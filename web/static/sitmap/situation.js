/* The commanders' situation panel (GET /situation), live from /live; also the period-report button. Exposes window.SitmapSituation. */
(function () {
  "use strict";
})();
