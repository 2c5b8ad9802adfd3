/*
 * PortRoles: what an ingress port is (a local host behind it, or the network), which agent
 * it belongs to, and whether a UDP datagram is a control message for a local address.
 */
#ifndef DYSCO_CONTROL_PORTS_P4
#define DYSCO_CONTROL_PORTS_P4

control PortRoles(inout headers_t hdr, inout dysco_meta_t meta, in port_t ingress_port) {

    // Packets from this port are emitted by a local host: look them up in out_session with
    // this agent identity.
    action host_port(bit<8> agent_id) {
        meta.port_role = PORT_ROLE_HOST;
        meta.agent_id = agent_id;
    }

    // Packets from this port come from the network: look them up in in_session.
    action network_port() {
        meta.port_role = PORT_ROLE_NETWORK;
        meta.agent_id = 0;
    }

    table port_role {
        key = {
            ingress_port : exact @name("ingress_port");
        }
        actions = {
            host_port;
            network_port;
        }
        default_action = network_port();
        size = PORT_TABLE_SIZE;
    }

    // The destination is one of the addresses this switch is the Dysco agent for.
    action set_local() {
        meta.is_local = 1;
    }

    table local_addr {
        key = {
            hdr.ipv4.dst_addr : exact @name("dst_addr");
        }
        actions = {
            set_local;
            @defaultonly NoAction;
        }
        default_action = NoAction();
        size = LOCAL_ADDR_TABLE_SIZE;
    }

    apply {
        port_role.apply();
        if (hdr.udp.isValid() && hdr.udp.dst_port == DYSCO_CONTROL_PORT) {
            local_addr.apply();
        }
    }
}

#endif
