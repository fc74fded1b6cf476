"""Presence over two nodes sharing PostgreSQL and Redis: viewers on either node see everyone on
the image, and see a viewer on the other node leave; another image's viewers see none of them."""

from __future__ import annotations

from imagechat import protocol
from tests.conftest import new_url_id
from tests.test_cluster import cluster  # noqa: F401  # the fixture: nodes on PostgreSQL + Redis
from tests.test_presence_live import no_frame_within, presence_becomes, token_of, watch


def test_viewers_on_two_nodes_see_each_other(cluster) -> None:  # noqa: F811
    first, second = cluster(2)
    url_id = new_url_id()
    ada = watch(first, url_id, token_of(first, "Ada"))
    presence_becomes(ada, 1, ["Ada"])
    elsewhere = watch(second, new_url_id(), token_of(second, "Cy"))
    presence_becomes(elsewhere, 1, ["Cy"])
    bo = watch(second, url_id, token_of(second, "Bo"))  # tokens of one node hold on the other
    presence_becomes(bo, 2, ["Ada", "Bo"])
    presence_becomes(ada, 2, ["Ada", "Bo"])
    anonymous = watch(first, url_id)
    presence_becomes(bo, 3, ["Ada", "Bo"])
    presence_becomes(ada, 3, ["Ada", "Bo"])
    bo.close()  # the second node's last viewer of the image: it reports 0 at once
    presence_becomes(ada, 2, ["Ada"])
    presence_becomes(anonymous, 2, ["Ada"])
    no_frame_within(elsewhere, 2 * protocol.PRESENCE_SECONDS)
    for ws in (ada, anonymous, elsewhere):
        ws.close()
