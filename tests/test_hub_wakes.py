"""The hub wakes its event loop only for keys someone there listens for (webhooks/hub.py)."""

import asyncio
import threading

from footfall.webhooks.hub import Hub


def test_a_notice_nobody_listens_for_does_not_wake_the_loop_but_is_noted():
    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        hub = Hub()
        hub.bind(loop)
        woken = []
        original = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda *a: (woken.append(a), original(*a))[1]  # type: ignore[method-assign]
        thread = threading.Thread(target=hub.notify, args=(["acc1"],))  # as the writer thread does
        thread.start()
        thread.join()
        return len(woken), hub.notified_at("acc1")

    wakes, noted = asyncio.run(main())
    assert wakes == 0
    assert noted > 0


def test_a_listener_is_woken_from_another_thread():
    async def main() -> bool:
        hub = Hub()
        hub.bind(asyncio.get_running_loop())
        listener = hub.listen("acc1")
        listener.clear()
        threading.Thread(target=hub.notify, args=(["acc2", "acc1"],)).start()
        woken = await listener.wait(5.0)
        listener.close()
        return woken

    assert asyncio.run(main())
