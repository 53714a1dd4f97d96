// A thin React wrapper over the CAP widget script (served by your CAP server).
//
//   import CapWidget from "./CapWidget";
//   <CapWidget server="https://cap.example.com" agent="default" widgetKey="pk_..."
//              title="Ask us" color="#0f766e" onEvent={(e) => console.log(e)} />
//
// It loads /widget/cap-widget.js once, mounts one widget per component and
// removes it on unmount. `widgetKey` stands for data-key (React reserves `key`).
import { useEffect, useRef } from "react";

const loading = new Map(); // server -> Promise<window.CapWidget>

function loadWidget(server) {
  if (window.CapWidget && window.CapWidget.mount) return Promise.resolve(window.CapWidget);
  if (!loading.has(server)) {
    loading.set(
      server,
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = server.replace(/\/+$/, "") + "/widget/cap-widget.js";
        script.async = true;
        script.setAttribute("data-manual", "");
        script.onload = () => resolve(window.CapWidget);
        script.onerror = () => {
          loading.delete(server);
          reject(new Error("could not load the CAP widget from " + server));
        };
        document.head.appendChild(script);
      }),
    );
  }
  return loading.get(server);
}

export function CapWidget({
  server,
  agent = "default",
  widgetKey,
  title,
  greeting,
  avatar,
  position,
  color,
  textColor,
  background,
  open,
  onEvent,
}) {
  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;

  useEffect(() => {
    let widget = null;
    let cancelled = false;
    loadWidget(server).then((api) => {
      if (cancelled) return;
      widget = api.mount({
        server, agent, key: widgetKey, title, greeting, avatar, position, color, textColor,
        background, open,
      });
      widget.on("event", (event) => onEventRef.current && onEventRef.current(event));
    });
    return () => {
      cancelled = true;
      if (widget) widget.destroy();
    };
  }, [server, agent, widgetKey, title, greeting, avatar, position, color, textColor, background, open]);

  return null;
}

export default CapWidget;
