//! pcap and pcapng files. (Being written.)
