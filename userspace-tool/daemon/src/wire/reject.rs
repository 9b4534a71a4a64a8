//! Why a datagram was ignored, and how many were, by reason.

use crate::state::RejectedJson;

/// Why a datagram was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not a well-formed ipcluster datagram (or another version's).
    Malformed,
    /// For another cluster.
    OtherCluster,
    /// A message of the link's other user, sent to this one's port.
    WrongPort,
    /// A signed datagram of a kind that travels only sealed.
    SignedWhereSealed,
    /// A signed counter outside the allowed clock skew, or from before
    /// this endpoint started.
    Stale,
    /// Its certificate is not trusted (and it is no join, which the
    /// master answers with the reason).
    Untrusted,
    /// Its signature does not match its certificate.
    BadSignature,
    /// From an address its certificate does not name (or, with
    /// `[pki] require_address`, its certificate names none).
    WrongAddress,
    /// A Hello for another address or port.
    NotForUs,
    /// Its replay counter was seen already, or is older than the window.
    Replayed,
    /// Sealed with a session this endpoint does not have with its source.
    UnknownSession,
    /// Its AEAD tag does not match.
    BadTag,
    /// Its source sent more joins or Hellos than are checked per second.
    RateLimited,
}

/// Counts of ignored datagrams, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub(crate) malformed: u64,
    pub(crate) other_cluster: u64,
    pub(crate) wrong_port: u64,
    pub(crate) signed_where_sealed: u64,
    pub(crate) stale: u64,
    pub(crate) untrusted: u64,
    pub(crate) bad_signature: u64,
    pub(crate) wrong_address: u64,
    pub(crate) not_for_us: u64,
    pub(crate) replayed: u64,
    pub(crate) unknown_session: u64,
    pub(crate) bad_tag: u64,
    pub(crate) rate_limited: u64,
}

impl Rejected {
    fn slot(&mut self, r: Reject) -> &mut u64 {
        match r {
            Reject::Malformed => &mut self.malformed,
            Reject::OtherCluster => &mut self.other_cluster,
            Reject::WrongPort => &mut self.wrong_port,
            Reject::SignedWhereSealed => &mut self.signed_where_sealed,
            Reject::Stale => &mut self.stale,
            Reject::Untrusted => &mut self.untrusted,
            Reject::BadSignature => &mut self.bad_signature,
            Reject::WrongAddress => &mut self.wrong_address,
            Reject::NotForUs => &mut self.not_for_us,
            Reject::Replayed => &mut self.replayed,
            Reject::UnknownSession => &mut self.unknown_session,
            Reject::BadTag => &mut self.bad_tag,
            Reject::RateLimited => &mut self.rate_limited,
        }
    }

    pub(crate) fn count(&mut self, r: Reject) {
        *self.slot(r) += 1;
    }

    /// The counts as `clusteradm status` shows them.
    pub(crate) fn to_json(self) -> RejectedJson {
        RejectedJson {
            malformed: self.malformed,
            other_cluster: self.other_cluster,
            wrong_port: self.wrong_port,
            signed_where_sealed: self.signed_where_sealed,
            stale: self.stale,
            untrusted: self.untrusted,
            bad_signature: self.bad_signature,
            wrong_address: self.wrong_address,
            not_for_us: self.not_for_us,
            replayed: self.replayed,
            unknown_session: self.unknown_session,
            bad_tag: self.bad_tag,
            rate_limited: self.rate_limited,
        }
    }

    /// Both endpoints' counts together.
    pub(crate) fn plus(mut self, mut o: Rejected) -> Rejected {
        for r in ALL {
            *self.slot(r) += *o.slot(r);
        }
        self
    }
}

const ALL: [Reject; 13] = [
    Reject::Malformed,
    Reject::OtherCluster,
    Reject::WrongPort,
    Reject::SignedWhereSealed,
    Reject::Stale,
    Reject::Untrusted,
    Reject::BadSignature,
    Reject::WrongAddress,
    Reject::NotForUs,
    Reject::Replayed,
    Reject::UnknownSession,
    Reject::BadTag,
    Reject::RateLimited,
];
