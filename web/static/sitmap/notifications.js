/* The notification inbox on the map (read/unread, pushed on /live). Exposes window.SitmapInbox. */
(function () {
  "use strict";
})();
