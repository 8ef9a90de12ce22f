/* The period-report button and dialog on the commanders map (GET /reports). Exposes window.SitmapReports. */
(function () {
  "use strict";
})();
